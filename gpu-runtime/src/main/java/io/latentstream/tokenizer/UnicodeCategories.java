package io.latentstream.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * General categories as the reference tokenizer's regex engine sees them. Hugging Face tokenizers
 * use Oniguruma 6.9.8, whose tables are Unicode 14.0.0; Java 17's are Unicode 13.0.0, so without
 * correction a character added in 14.0 (an emoji such as U+1FAE0) would be unassigned to Java and
 * pre-tokenized differently. Each category class is Java's own (fast) {@code \p{X}} plus the code
 * points the pinned table adds and minus those it removes.
 */
final class UnicodeCategories {
  static final String UNICODE_VERSION = "14.0.0";
  private static final String TABLE = "unicode-" + UNICODE_VERSION + "-general-category.txt";

  /** Java's {@link Character#getType} values as two-letter category names. */
  private static final String[] JAVA_TYPE_NAMES = new String[31];

  static {
    String[][] names = {
      {"Cn", "" + Character.UNASSIGNED},
      {"Lu", "" + Character.UPPERCASE_LETTER},
      {"Ll", "" + Character.LOWERCASE_LETTER},
      {"Lt", "" + Character.TITLECASE_LETTER},
      {"Lm", "" + Character.MODIFIER_LETTER},
      {"Lo", "" + Character.OTHER_LETTER},
      {"Mn", "" + Character.NON_SPACING_MARK},
      {"Me", "" + Character.ENCLOSING_MARK},
      {"Mc", "" + Character.COMBINING_SPACING_MARK},
      {"Nd", "" + Character.DECIMAL_DIGIT_NUMBER},
      {"Nl", "" + Character.LETTER_NUMBER},
      {"No", "" + Character.OTHER_NUMBER},
      {"Zs", "" + Character.SPACE_SEPARATOR},
      {"Zl", "" + Character.LINE_SEPARATOR},
      {"Zp", "" + Character.PARAGRAPH_SEPARATOR},
      {"Cc", "" + Character.CONTROL},
      {"Cf", "" + Character.FORMAT},
      {"Co", "" + Character.PRIVATE_USE},
      {"Cs", "" + Character.SURROGATE},
      {"Pd", "" + Character.DASH_PUNCTUATION},
      {"Ps", "" + Character.START_PUNCTUATION},
      {"Pe", "" + Character.END_PUNCTUATION},
      {"Pc", "" + Character.CONNECTOR_PUNCTUATION},
      {"Po", "" + Character.OTHER_PUNCTUATION},
      {"Sm", "" + Character.MATH_SYMBOL},
      {"Sc", "" + Character.CURRENCY_SYMBOL},
      {"Sk", "" + Character.MODIFIER_SYMBOL},
      {"So", "" + Character.OTHER_SYMBOL},
      {"Pi", "" + Character.INITIAL_QUOTE_PUNCTUATION},
      {"Pf", "" + Character.FINAL_QUOTE_PUNCTUATION},
    };
    for (String[] pair : names) {
      JAVA_TYPE_NAMES[Integer.parseInt(pair[1])] = pair[0];
    }
  }

  /** The pinned table, as Java type codes per code point, and where it differs from Java's. */
  private record Table(byte[] types, int[] differences) {}

  private static volatile Table table;
  private static final Map<String, String> CLASSES = new ConcurrentHashMap<>();

  private UnicodeCategories() {}

  /** The two-letter category of {@code codePoint} in the pinned Unicode version. */
  static String categoryOf(int codePoint) {
    return JAVA_TYPE_NAMES[table().types()[codePoint]];
  }

  /** The two-letter category Java 17 gives {@code codePoint}. */
  static String javaCategoryOf(int codePoint) {
    return JAVA_TYPE_NAMES[Character.getType(codePoint)];
  }

  /**
   * A Java character class (nestable inside another) matching general category {@code name} ({@code
   * L}, {@code Lu}, ...) of the pinned Unicode version.
   */
  static String javaClass(String name) {
    return CLASSES.computeIfAbsent(name, UnicodeCategories::buildClass);
  }

  static boolean isCategory(String name) {
    if (name.length() == 1) {
      return "LMNPSZC".contains(name);
    }
    return Arrays.asList(JAVA_TYPE_NAMES).contains(name);
  }

  private static String buildClass(String name) {
    StringBuilder added = new StringBuilder();
    StringBuilder removed = new StringBuilder();
    int[] addedBounds = {Integer.MAX_VALUE, -1};
    int[] removedBounds = {Integer.MAX_VALUE, -1};
    int[] differences = table().differences();
    // Consecutive code points with the same verdict form one range.
    int runStart = -1;
    int runEnd = -2;
    int runKind = 0;
    for (int i = 0; i <= differences.length; i++) {
      int cp = i < differences.length ? differences[i] : -1;
      int kind = 0;
      if (cp >= 0) {
        boolean inPinned = categoryOf(cp).startsWith(name);
        boolean inJava = javaCategoryOf(cp).startsWith(name);
        kind = inPinned == inJava ? 0 : inPinned ? 1 : -1;
      }
      if (kind != 0 && kind == runKind && cp == runEnd + 1) {
        runEnd = cp;
        continue;
      }
      if (runKind != 0) {
        appendRange(runKind > 0 ? added : removed, runStart, runEnd);
        int[] bounds = runKind > 0 ? addedBounds : removedBounds;
        bounds[0] = Math.min(bounds[0], runStart);
        bounds[1] = Math.max(bounds[1], runEnd);
      }
      runStart = cp;
      runEnd = cp;
      runKind = kind;
    }
    // Java tests a union's members in turn: each list of ranges sits behind one bounding range,
    // so that most characters (ASCII, common scripts) are decided by two comparisons.
    StringBuilder javaClass = new StringBuilder("[\\p{").append(name).append('}');
    if (added.length() > 0) {
      javaClass.append('[').append(rangeOf(addedBounds)).append("&&[").append(added).append("]]");
    }
    if (removed.length() > 0) {
      javaClass
          .append("&&[^")
          .append(rangeOf(removedBounds))
          .append("&&[")
          .append(removed)
          .append("]]");
    }
    return javaClass.append(']').toString();
  }

  private static String rangeOf(int[] bounds) {
    StringBuilder out = new StringBuilder();
    appendRange(out, bounds[0], bounds[1]);
    return out.toString();
  }

  private static void appendRange(StringBuilder out, int first, int last) {
    out.append(String.format("\\x{%X}", first));
    if (last > first) {
      out.append(String.format("-\\x{%X}", last));
    }
  }

  private static Table table() {
    Table t = table;
    if (t == null) {
      synchronized (UnicodeCategories.class) {
        if (table == null) {
          table = readTable();
        }
        t = table;
      }
    }
    return t;
  }

  private static Table readTable() {
    byte[] types = new byte[Character.MAX_CODE_POINT + 1]; // 0 is Java's UNASSIGNED (Cn)
    Map<String, Byte> typeOfName = new java.util.HashMap<>();
    for (int type = 0; type < JAVA_TYPE_NAMES.length; type++) {
      if (JAVA_TYPE_NAMES[type] != null) {
        typeOfName.put(JAVA_TYPE_NAMES[type], (byte) type);
      }
    }
    try (InputStream in = UnicodeCategories.class.getResourceAsStream(TABLE)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + TABLE);
      }
      BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] fields = line.split(" ");
        Byte type = typeOfName.get(fields[2]);
        if (type == null) {
          throw new IllegalStateException("unknown category " + fields[2] + " in " + TABLE);
        }
        Arrays.fill(
            types, Integer.parseInt(fields[0], 16), Integer.parseInt(fields[1], 16) + 1, type);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    int[] differences = new int[1024];
    int count = 0;
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      if (types[cp] != Character.getType(cp)) {
        if (count == differences.length) {
          differences = Arrays.copyOf(differences, count * 2);
        }
        differences[count++] = cp;
      }
    }
    return new Table(types, Arrays.copyOf(differences, count));
  }
}
