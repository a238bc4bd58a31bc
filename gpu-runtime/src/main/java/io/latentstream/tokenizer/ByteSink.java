package io.latentstream.tokenizer;

import java.util.Arrays;

/** A growable byte buffer: the bytes of decoded tokens waiting to become text. */
final class ByteSink {
  private byte[] bytes = new byte[64];
  private int length;

  void append(int b) {
    if (length == bytes.length) {
      bytes = Arrays.copyOf(bytes, length * 2);
    }
    bytes[length++] = (byte) b;
  }

  void append(byte[] more) {
    if (length + more.length > bytes.length) {
      bytes = Arrays.copyOf(bytes, Math.max(length * 2, length + more.length));
    }
    System.arraycopy(more, 0, bytes, length, more.length);
    length += more.length;
  }

  byte[] array() {
    return bytes;
  }

  int length() {
    return length;
  }

  /** Drops the first {@code count} bytes, keeping the rest. */
  void discardPrefix(int count) {
    System.arraycopy(bytes, count, bytes, 0, length - count);
    length -= count;
  }

  void clear() {
    length = 0;
  }
}
