package io.latentstream.tokenizer;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Translates the regular expressions of {@code tokenizer.json} to {@link java.util.regex}.
 *
 * <p>Hugging Face tokenizers compiles them with Oniguruma (Ruby syntax, UTF-8, no options): a
 * backtracking engine with look-around like Java's, whose character types are Unicode-aware. Java's
 * are ASCII-only by default, and {@code UNICODE_CHARACTER_CLASS} would use different definitions
 * (Java's {@code \w} includes the joiners, for one), so each type is spelled out as the Oniguruma
 * documentation defines it:
 *
 * <ul>
 *   <li>{@code \s} = U+0009..U+000D, U+0085 and the Zs, Zl, Zp categories, which is exactly Java's
 *       {@code \p{IsWhite_Space}};
 *   <li>{@code \d} = {@code \p{Nd}}; {@code \w} = letters, marks, numbers and Pc; {@code \h} is a
 *       hexadecimal digit (in Java it would be horizontal space);
 *   <li>{@code \p{L}}, {@code \p{N}}, {@code \p{P}}, {@code \p{S}}, {@code \p{M}} and the other
 *       general categories follow Oniguruma's Unicode version, not Java's (see {@link
 *       UnicodeCategories}); other property names (scripts such as {@code Han}) become Java's
 *       {@code \p{IsHan}}, in Java's Unicode version; {@code \p{^X}} is {@code \P{X}};
 *   <li>{@code ^} and {@code $} are line anchors in Ruby syntax, for {@code \n} only ({@code
 *       MULTILINE | UNIX_LINES}); Ruby's inline {@code (?m)} is Java's {@code (?s)};
 *   <li>case-insensitive groups fold Unicode case ({@code UNICODE_CASE}); Oniguruma's multi-
 *       character folds (ß = ss) have no Java equivalent.
 * </ul>
 *
 * Java matches classes on code points, like Oniguruma; the one place it may step into a surrogate
 * pair, the start position of a search, is handled by {@link RegexSplit}.
 */
final class OnigurumaRegex {
  private static final String WHITE_SPACE = "\\p{IsWhite_Space}";
  private static final String NOT_WHITE_SPACE = "\\P{IsWhite_Space}";
  private static final String HEX = "0-9a-fA-F";

  private OnigurumaRegex() {}

  static Pattern compile(String onigurumaPattern) {
    String java = translate(onigurumaPattern);
    try {
      return Pattern.compile(java, Pattern.MULTILINE | Pattern.UNIX_LINES | Pattern.UNICODE_CASE);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(
          "unsupported pre-tokenizer regex " + onigurumaPattern + ": " + e.getDescription(), e);
    }
  }

  /** The Java spelling of an Oniguruma (Ruby syntax) pattern. */
  static String translate(String pattern) {
    StringBuilder out = new StringBuilder(pattern.length() + 32);
    int classDepth = 0;
    int i = 0;
    while (i < pattern.length()) {
      char c = pattern.charAt(i);
      if (c == '\\' && i + 1 < pattern.length()) {
        char e = pattern.charAt(i + 1);
        // Every replacement is a property or a (nested) class: valid inside a class and out.
        switch (e) {
          case 's' -> out.append(WHITE_SPACE);
          case 'S' -> out.append(NOT_WHITE_SPACE);
          case 'd' -> out.append(UnicodeCategories.javaClass("Nd"));
          case 'D' -> out.append("[^").append(UnicodeCategories.javaClass("Nd")).append(']');
          case 'w' -> out.append('[').append(word()).append(']');
          case 'W' -> out.append("[^").append(word()).append(']');
          case 'h' -> out.append("[" + HEX + "]");
          case 'H' -> out.append("[^" + HEX + "]");
          case 'p', 'P' -> {
            int close = pattern.indexOf('}', i);
            if (i + 2 >= pattern.length() || pattern.charAt(i + 2) != '{' || close < 0) {
              throw new IllegalArgumentException("malformed property in regex " + pattern);
            }
            String name = pattern.substring(i + 3, close);
            boolean negated = e == 'P';
            if (name.startsWith("^")) {
              negated = !negated;
              name = name.substring(1);
            }
            if (UnicodeCategories.isCategory(name)) {
              String category = UnicodeCategories.javaClass(name);
              out.append(negated ? "[^" + category + "]" : category);
            } else {
              out.append(negated ? "\\P{" : "\\p{").append(javaPropertyName(name)).append('}');
            }
            i = close + 1;
            continue;
          }
          case 'K', 'R', 'X', 'y', 'Y', 'g', 'k' ->
              throw new IllegalArgumentException(
                  "unsupported construct \\" + e + " in pre-tokenizer regex " + pattern);
          default -> out.append(c).append(e);
        }
        i += 2;
        continue;
      }
      if (c == '[') {
        classDepth++;
        out.append(c);
        if (i + 1 < pattern.length() && pattern.charAt(i + 1) == '^') {
          out.append('^');
          i++;
        }
        i++;
        // A ']' right after the opening bracket is a literal in Oniguruma; Java wants it escaped.
        if (i < pattern.length() && pattern.charAt(i) == ']') {
          out.append("\\]");
          i++;
        }
        continue;
      }
      if (c == ']' && classDepth > 0) {
        classDepth--;
      } else if (c == '(' && classDepth == 0 && pattern.startsWith("(?", i)) {
        i = translateInlineFlags(pattern, i, out);
        continue;
      }
      out.append(c);
      i++;
    }
    return out.toString();
  }

  /** Ruby's {@code m} flag (dot matches newline) is Java's {@code s}. */
  private static int translateInlineFlags(String pattern, int start, StringBuilder out) {
    int i = start + 2;
    StringBuilder flags = new StringBuilder();
    while (i < pattern.length() && "imx-".indexOf(pattern.charAt(i)) >= 0) {
      char f = pattern.charAt(i);
      flags.append(f == 'm' ? 's' : f == 'x' ? 'x' : f);
      i++;
    }
    if (flags.length() == 0) {
      out.append("(?");
      return start + 2;
    }
    out.append("(?").append(flags);
    return i;
  }

  /** Oniguruma's Unicode {@code \w}: Letter, Mark, Number, Connector_Punctuation. */
  private static String word() {
    return UnicodeCategories.javaClass("L")
        + UnicodeCategories.javaClass("M")
        + UnicodeCategories.javaClass("N")
        + UnicodeCategories.javaClass("Pc");
  }

  /** Scripts and binary properties, which Java spells with an {@code Is} prefix. */
  private static String javaPropertyName(String name) {
    return name.startsWith("Is") || name.startsWith("In") ? name : "Is" + name;
  }
}
