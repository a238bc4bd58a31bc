package io.latentstream.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible map between bytes and printable characters ({@code bytes_to_unicode}), which
 * the {@code ByteLevel} pre-tokenizer and decoder of Hugging Face tokenizers use: every UTF-8 byte
 * of a piece becomes one character, so the BPE vocabulary never needs an unknown token.
 */
public final class ByteLevel {
  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final int[] CHAR_TO_BYTE = new int[512];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    int next = 256;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      char c = printable ? (char) b : (char) next++;
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private ByteLevel() {}

  /** The character that stands for {@code b} (0..255) in byte-level tokens. */
  public static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The byte a byte-level character stands for, or -1 if {@code c} is not one of the 256. */
  public static int byteOf(char c) {
    return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
  }

  /** Maps the UTF-8 bytes of {@code text} to their byte-level characters. */
  public static String encode(String text) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    char[] chars = new char[utf8.length];
    for (int i = 0; i < utf8.length; i++) {
      chars[i] = BYTE_TO_CHAR[utf8[i] & 0xFF];
    }
    return new String(chars);
  }

  /**
   * Appends the bytes a token stands for to {@code out}. As in the Rust decoder, a token holding
   * any character outside the byte alphabet contributes its own UTF-8 bytes instead.
   */
  static void appendBytes(String token, ByteSink out) {
    for (int i = 0; i < token.length(); i++) {
      if (byteOf(token.charAt(i)) < 0) {
        out.append(token.getBytes(StandardCharsets.UTF_8));
        return;
      }
    }
    for (int i = 0; i < token.length(); i++) {
      out.append(byteOf(token.charAt(i)));
    }
  }
}
