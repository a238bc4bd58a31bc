package io.latentstream.registry.client;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.IdentityHashMap;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * Walks Avro binary data by its writer schema before it is decoded, and refuses what a decoder
 * would have to trust: an array, map, string or bytes whose announced count or length is larger
 * than what the record has left (Avro allocates from the count before it reads the items, so a
 * 58-byte record announcing 2,147,483,639 ints costs 8 GiB), invalid UTF-8 in a string (a decoder
 * replaces it, and two different ids could become one), a union branch or enum symbol that does not
 * exist, a varint longer than its type, trailing bytes. Data that passes can be decoded in memory
 * proportional to its size. One pass, no allocation beyond the string check.
 */
public final class AvroBounds {
  /** Nesting deeper than this is refused (a recursive schema could otherwise recurse forever). */
  static final int MAX_DEPTH = 64;

  /** Items of an array whose items take no bytes (null, an empty record) allowed per record. */
  static final int MAX_EMPTY_ITEMS = 1 << 16;

  private final byte[] data;
  private final int end;
  private final Map<Schema, Integer> minSizes = new IdentityHashMap<>();
  private final CharsetDecoder utf8 =
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);
  private int pos;
  private int emptyItems;

  /** Why the data cannot be decoded safely. */
  public static final class Violation extends Exception {
    Violation(String message) {
      super(message);
    }
  }

  private AvroBounds(byte[] data, int offset, int length) {
    this.data = data;
    this.pos = offset;
    this.end = offset + length;
  }

  /**
   * Checks {@code length} bytes of {@code data} from {@code offset} as one datum of {@code writer},
   * all bytes used.
   */
  public static void check(Schema writer, byte[] data, int offset, int length) throws Violation {
    AvroBounds walk = new AvroBounds(data, offset, length);
    walk.datum(writer, 0);
    if (walk.pos != walk.end) {
      throw new Violation(
          (walk.end - walk.pos) + " trailing bytes after the " + writer.getFullName() + " datum");
    }
  }

  private void datum(Schema schema, int depth) throws Violation {
    if (depth > MAX_DEPTH) {
      throw new Violation("nested deeper than " + MAX_DEPTH + " levels");
    }
    switch (schema.getType()) {
      case NULL -> {}
      case BOOLEAN -> {
        int b = take(1);
        if (data[b] != 0 && data[b] != 1) {
          throw new Violation("boolean byte " + data[b] + " is neither 0 nor 1");
        }
      }
      case INT -> varint(5);
      case LONG -> varint(10);
      case FLOAT -> take(4);
      case DOUBLE -> take(8);
      case FIXED -> take(schema.getFixedSize());
      case BYTES -> take(length("bytes"));
      case STRING -> string();
      case ENUM -> index(varint(5), schema.getEnumSymbols().size(), "enum symbol", schema);
      case UNION -> {
        int branch = index(varint(10), schema.getTypes().size(), "union branch", schema);
        datum(schema.getTypes().get(branch), depth + 1);
      }
      case RECORD -> {
        for (Schema.Field field : schema.getFields()) {
          datum(field.schema(), depth + 1);
        }
      }
      case ARRAY -> blocks(schema.getElementType(), null, depth);
      case MAP -> blocks(schema.getValueType(), Schema.create(Schema.Type.STRING), depth);
    }
  }

  /**
   * Array or map blocks: a count (negative: followed by the block's size in bytes), that many items
   * (for maps a key, then the value), until a count of 0. A count is refused when its items could
   * not fit in what is left, at the smallest encoding of an item.
   */
  private void blocks(Schema items, Schema key, int depth) throws Violation {
    int itemMin = minSize(items, 0) + (key == null ? 0 : 1);
    while (true) {
      long count = varint(10);
      if (count == 0) {
        return;
      }
      if (count < 0) {
        count = -count;
        long blockBytes = varint(10);
        if (blockBytes < 0 || blockBytes > end - pos) {
          throw new Violation(
              "block of " + blockBytes + " bytes with " + (end - pos) + " bytes left");
        }
      }
      if (count < 0 || (itemMin > 0 && count > (end - pos) / itemMin)) {
        throw new Violation(
            "a count of "
                + count
                + (key == null ? " items" : " entries")
                + " with "
                + (end - pos)
                + " bytes left in the record");
      }
      if (itemMin == 0) {
        emptyItems += (int) Math.min(count, MAX_EMPTY_ITEMS + 1L);
        if (emptyItems > MAX_EMPTY_ITEMS) {
          throw new Violation("more than " + MAX_EMPTY_ITEMS + " items that take no bytes");
        }
      }
      for (long i = 0; i < count; i++) {
        if (key != null) {
          string();
        }
        datum(items, depth + 1);
      }
    }
  }

  private void string() throws Violation {
    int length = length("string");
    int start = take(length);
    try {
      utf8.reset().decode(ByteBuffer.wrap(data, start, length));
    } catch (CharacterCodingException e) {
      throw new Violation("a string of " + length + " bytes that is not valid UTF-8");
    }
  }

  /** A bytes or string length, within what is left. */
  private int length(String what) throws Violation {
    long length = varint(10);
    if (length < 0 || length > end - pos) {
      throw new Violation(
          what + " length " + length + " with " + (end - pos) + " bytes left in the record");
    }
    return (int) length;
  }

  private int index(long value, int size, String what, Schema schema) throws Violation {
    if (value < 0 || value >= size) {
      throw new Violation(
          what + " " + value + " of " + schema.getFullName() + ", which has " + size);
    }
    return (int) value;
  }

  /** Skips n bytes; returns where they start. */
  private int take(int n) throws Violation {
    if (n > end - pos) {
      throw new Violation("needs " + n + " bytes, " + (end - pos) + " left");
    }
    int start = pos;
    pos += n;
    return start;
  }

  /** A zig-zag varint of at most maxBytes bytes (5 for int, 10 for long), decoded. */
  private long varint(int maxBytes) throws Violation {
    long raw = 0;
    for (int i = 0; ; i++) {
      if (i == maxBytes) {
        throw new Violation("a varint longer than " + maxBytes + " bytes");
      }
      int b = data[take(1)] & 0xff;
      raw |= (long) (b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        break;
      }
    }
    long value = (raw >>> 1) ^ -(raw & 1);
    if (maxBytes == 5 && (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE)) {
      throw new Violation("an int varint out of range: " + value);
    }
    return value;
  }

  /** The fewest bytes a datum of the schema can take. */
  private int minSize(Schema schema, int depth) {
    Integer known = minSizes.get(schema);
    if (known != null) {
      return known;
    }
    if (depth > MAX_DEPTH) {
      return 0; // a recursive record: counted as taking nothing, which only lowers the bound
    }
    int size =
        switch (schema.getType()) {
          case NULL -> 0;
          case BOOLEAN, INT, LONG, ENUM, BYTES, STRING, ARRAY, MAP, UNION -> 1;
          case FLOAT -> 4;
          case DOUBLE -> 8;
          case FIXED -> schema.getFixedSize();
          case RECORD -> {
            int sum = 0;
            for (Schema.Field field : schema.getFields()) {
              sum += minSize(field.schema(), depth + 1);
            }
            yield sum;
          }
        };
    minSizes.put(schema, size);
    return size;
  }
}
