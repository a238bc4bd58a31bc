package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.latentstream.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * latentstream's tokenizer against Hugging Face's Rust tokenizers (through DJL, test scope only) on
 * random strings beyond the goldens: many scripts, digits of several systems, combining marks,
 * whitespace of every kind, emoji sequences, inline added tokens and random assigned code points.
 *
 * <p>DJL's build of the Rust library is newer than the one that made the goldens: its Oniguruma
 * knows Unicode 16, where ours is pinned to the goldens' 14. Characters assigned after 14.0 are
 * therefore left out of the random draw (Java 17's {@code Character.isDefined} is Unicode 13).
 */
class RustTokenizerDifferentialTest {
  private static Tokenizer ours;
  private static HuggingFaceTokenizer rust;

  private static final String[] PIECES = {
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\u00A0",
    "\u3000",
    "\u2028",
    "\u0085",
    "\u200B",
    "\uFEFF",
    "\u200D",
    "0",
    "12",
    "345",
    "7890",
    "١٢٣",
    "४२",
    "１２",
    "𝟎𝟏",
    "Ⅻ",
    "½",
    "a",
    "Z",
    "the",
    " the",
    "The",
    "'s",
    "'ll",
    "n't",
    "é",
    "e\u0301",
    "ö",
    "ß",
    "İ",
    "ǅ",
    "ĳ",
    "ﬁ",
    "Ω",
    "λόγος",
    "Привет",
    "שלום",
    "مرحبا",
    "नमस्ते",
    "क्षि",
    "ไทย",
    "你好",
    "深度求索",
    "カタカナ",
    "ひらがな",
    "한국어",
    "日本語",
    "ー",
    "。",
    "、",
    "！",
    "？",
    "：",
    "…",
    "—",
    "–",
    "«",
    "»",
    "¿",
    "¡",
    "€",
    "$",
    "£",
    "∑",
    "√",
    "©",
    "™",
    "°",
    "§",
    "•",
    "@",
    "#",
    "%",
    "&",
    "*",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "/",
    "\\",
    "|",
    "~",
    "`",
    "^",
    "_",
    "-",
    "+",
    "=",
    ".",
    ",",
    ";",
    ":",
    "!",
    "?",
    "\"",
    "'",
    "😀",
    "👍🏽",
    "🇫🇷",
    "👨‍👩‍👧‍👦",
    "❤️",
    "🫠",
    " 🫠",
    "\u0301",
    "\u0308",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜fim▁hole｜>",
    "<｜User",
    "def f(x):",
    "    return",
    "http://example.com/a?b=c",
    "a_b",
    "CamelCase",
    "x86_64",
  };

  @BeforeAll
  static void load() throws IOException {
    String shared = System.getProperty("latentstream.shared");
    Path dir = Path.of(shared == null ? "../shared" : shared, "tokenizers/deepseek-v3");
    if (!Files.isDirectory(dir)) {
      throw new IllegalStateException("missing reference data " + dir + " (../shared)");
    }
    ours = Tokenizer.load(dir);
    rust =
        HuggingFaceTokenizer.builder()
            .optTokenizerPath(dir.resolve("tokenizer.json"))
            .optAddSpecialTokens(false)
            .optTruncation(false)
            .optPadding(false)
            .build();
  }

  @AfterAll
  static void close() {
    if (rust != null) {
      rust.close();
    }
  }

  @Test
  void randomStringsEncodeAsInTheRustLibrary() {
    Random random = new Random(4);
    List<String> mismatches = new ArrayList<>();
    int cases = 3000;
    for (int n = 0; n < cases; n++) {
      String text = randomText(random);
      long[] expected = rust.encode(text, false, false).getIds();
      long[] actual = Arrays.stream(ours.encode(text)).asLongStream().toArray();
      if (!Arrays.equals(expected, actual) && mismatches.size() < 10) {
        mismatches.add(
            escape(text)
                + "\n  rust "
                + Arrays.toString(expected)
                + "\n  ours "
                + Arrays.toString(actual));
      }
    }
    assertEquals(List.of(), mismatches);
  }

  @Test
  void decodingAgreesOnRandomIds() {
    Random random = new Random(5);
    for (int n = 0; n < 500; n++) {
      int[] ids = new int[1 + random.nextInt(30)];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = random.nextInt(3) == 0 ? random.nextInt(ours.vocabSize()) : random.nextInt(300);
      }
      long[] asLongs = Arrays.stream(ids).asLongStream().toArray();
      for (boolean skip : new boolean[] {false, true}) {
        assertEquals(rust.decode(asLongs, skip), ours.decode(ids, skip), Arrays.toString(ids));
      }
    }
  }

  private static String randomText(Random random) {
    StringBuilder text = new StringBuilder();
    int parts = 1 + random.nextInt(12);
    for (int p = 0; p < parts; p++) {
      if (random.nextInt(3) == 0) {
        text.appendCodePoint(randomAssignedCodePoint(random));
      } else {
        text.append(PIECES[random.nextInt(PIECES.length)]);
      }
    }
    assertTrue(text.length() > 0);
    return text.toString();
  }

  /** A code point assigned in Unicode 13, not a surrogate, not private use, not a noncharacter. */
  private static int randomAssignedCodePoint(Random random) {
    while (true) {
      int cp = random.nextInt(2) == 0 ? random.nextInt(0x30000) : random.nextInt(0x10000);
      int type = Character.getType(cp);
      if (Character.isDefined(cp)
          && type != Character.SURROGATE
          && type != Character.PRIVATE_USE
          && type != Character.UNASSIGNED) {
        return cp;
      }
    }
  }

  private static String escape(String text) {
    StringBuilder out = new StringBuilder("\"");
    text.codePoints()
        .forEach(
            cp ->
                out.append(
                    cp < 0x20 || cp > 0x7E
                        ? String.format("\\u{%X}", cp)
                        : Character.toString(cp)));
    return out.append('"').toString();
  }
}
