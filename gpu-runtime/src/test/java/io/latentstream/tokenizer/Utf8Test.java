package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Utf8Test {
  @Test
  void followsTheUnicodeExampleOfMaximalSubparts() {
    // The Unicode Standard, chapter 3, "U+FFFD Substitution of Maximal Subparts" (Table 3-8).
    byte[] bytes = HexFormat.of().parseHex("61F18080E180C2628063 80BF64".replace(" ", ""));
    assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", Utf8.decodeLossy(bytes, bytes.length));
  }

  @Test
  void agreesWithTheJdkDecoderOutsideEncodedSurrogates() {
    // The JDK replaces an encoded surrogate (ED A0..BF ..) as one unit where Rust and the Unicode
    // practice see three ill-formed bytes; everywhere else the two agree.
    Random random = new Random(7);
    byte[] interesting = HexFormat.of().parseHex("4180BFC2C0C1E0A0E4BDF090F48FF5FFED9F");
    for (int n = 0; n < 100_000; n++) {
      byte[] bytes = new byte[random.nextInt(9)];
      for (int i = 0; i < bytes.length; i++) {
        bytes[i] =
            random.nextBoolean()
                ? interesting[random.nextInt(interesting.length)]
                : (byte) random.nextInt(256);
        if (i > 0 && bytes[i - 1] == (byte) 0xED && (bytes[i] & 0xFF) >= 0xA0) {
          bytes[i] = (byte) 0x41;
        }
      }
      assertEquals(
          new String(bytes, StandardCharsets.UTF_8),
          Utf8.decodeLossy(bytes, bytes.length),
          HexFormat.of().formatHex(bytes));
    }
  }

  @Test
  void holdsOnlyATruncatedValidPrefix() {
    byte[] bytes = "a😀".getBytes(StandardCharsets.UTF_8);
    for (int cut = 2; cut < bytes.length; cut++) {
      StringBuilder out = new StringBuilder();
      assertEquals(1, Utf8.decode(bytes, cut, out, false), "cut after " + cut + " bytes");
      assertEquals("a", out.toString());
    }
    byte[] broken = HexFormat.of().parseHex("61F09F41");
    StringBuilder out = new StringBuilder();
    assertEquals(4, Utf8.decode(broken, 4, out, false), "an ill-formed prefix is not held");
    assertEquals("a\uFFFDA", out.toString());
  }
}
