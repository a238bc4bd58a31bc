package io.latentstream.tokenizer;

/**
 * Lossy UTF-8 decoding with the semantics of Rust's {@code String::from_utf8_lossy}: each maximal
 * ill-formed subpart becomes one U+FFFD (the Unicode "substitution of maximal subparts" practice).
 * Implemented here rather than with a {@code CharsetDecoder} so that the streaming decoder can stop
 * exactly before a truncated but still valid sequence, and so the replacement count is pinned down
 * instead of left to the JDK.
 */
final class Utf8 {
  static final char REPLACEMENT = '\uFFFD';

  private Utf8() {}

  /** Decodes all of {@code bytes[0, length)}, replacing ill-formed subparts. */
  static String decodeLossy(byte[] bytes, int length) {
    StringBuilder out = new StringBuilder(length);
    decode(bytes, length, out, true);
    return out.toString();
  }

  /**
   * Decodes {@code bytes[0, length)} into {@code out} and returns how many bytes were consumed.
   * With {@code atEnd} false, a trailing sequence that is valid so far but incomplete is left
   * unconsumed: the next token may complete it. Everything else is consumed, ill-formed subparts as
   * U+FFFD, so decoding in pieces cut this way equals decoding the whole.
   */
  static int decode(byte[] bytes, int length, StringBuilder out, boolean atEnd) {
    int i = 0;
    while (i < length) {
      int lead = bytes[i] & 0xFF;
      if (lead < 0x80) {
        out.append((char) lead);
        i++;
        continue;
      }
      int need;
      int min2 = 0x80;
      int max2 = 0xBF;
      if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2;
        if (lead == 0xE0) {
          min2 = 0xA0;
        } else if (lead == 0xED) {
          max2 = 0x9F;
        }
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3;
        if (lead == 0xF0) {
          min2 = 0x90;
        } else if (lead == 0xF4) {
          max2 = 0x8F;
        }
      } else {
        out.append(REPLACEMENT);
        i++;
        continue;
      }
      int codePoint = lead & (0x3F >> need);
      int j = i + 1;
      boolean valid = true;
      for (int k = 0; k < need; k++, j++) {
        if (j >= length) {
          if (!atEnd) {
            return i; // a valid prefix cut by the end of what we have: wait for more bytes
          }
          valid = false;
          break;
        }
        int b = bytes[j] & 0xFF;
        int lo = k == 0 ? min2 : 0x80;
        int hi = k == 0 ? max2 : 0xBF;
        if (b < lo || b > hi) {
          valid = false;
          break;
        }
        codePoint = (codePoint << 6) | (b & 0x3F);
      }
      if (valid) {
        out.appendCodePoint(codePoint);
      } else {
        out.append(REPLACEMENT);
      }
      i = j;
    }
    return i;
  }
}
