package io.latentstream.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Writes a safetensors file. The header is written first, from the declared dtypes and shapes; then
 * each tensor's {@link Elements} are opened in turn and asked for its bytes a chunk at a time, so
 * that a file of any size is written without holding its tensors in memory. fp32 arrays can be
 * added directly, stored as F32 or BF16 (round to nearest even). Used by {@code latentstream logits
 * --out}, by {@link CheckpointWriter} and by tests that build checkpoints.
 */
public final class SafetensorsWriter {
  /** Bytes asked of an {@link Elements} at once: a whole number of elements of any dtype. */
  private static final int CHUNK = 1 << 20;

  /** A tensor's data, produced in order, as it is written. */
  @FunctionalInterface
  public interface Elements {
    /**
     * Puts the tensor's next elements, little-endian, into every remaining byte of dst (a whole
     * number of elements).
     */
    void next(ByteBuffer dst);
  }

  private record Entry(String name, DType dtype, long[] shape, Supplier<Elements> data) {
    long bytes() {
      return SafetensorsWriter.bytes(dtype, shape);
    }
  }

  /** The stored size of a tensor. */
  public static long bytes(DType dtype, long... shape) {
    long n = dtype.bytes();
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private final List<Entry> entries = new ArrayList<>();

  /** Adds a tensor stored as F32 or BF16; data.length must equal the product of shape. */
  public SafetensorsWriter add(String name, DType dtype, float[] data, long... shape) {
    if (dtype != DType.F32 && dtype != DType.BF16) {
      throw new IllegalArgumentException(name + ": the writer stores F32 or BF16, not " + dtype);
    }
    long n = bytes(dtype, shape) / dtype.bytes();
    if (n != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " values for shape of " + n);
    }
    return add(
        name,
        dtype,
        shape,
        () -> {
          int[] at = {0};
          return dst -> {
            while (dst.hasRemaining()) {
              float v = data[at[0]++];
              if (dtype == DType.F32) {
                dst.putFloat(v);
              } else {
                dst.putShort(toBf16(v));
              }
            }
          };
        });
  }

  /** Adds a tensor whose elements data opens when the file is written. */
  public SafetensorsWriter add(String name, DType dtype, long[] shape, Supplier<Elements> data) {
    entries.add(new Entry(name, dtype, shape.clone(), data));
    return this;
  }

  /** The tensor data added so far, in bytes (the file adds its header). */
  public long dataBytes() {
    long n = 0;
    for (Entry e : entries) {
      n += e.bytes();
    }
    return n;
  }

  public void write(Path file) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode header = json.createObjectNode();
    header.putObject("__metadata__").put("format", "pt");
    long offset = 0;
    for (Entry t : entries) {
      ObjectNode n = header.putObject(t.name);
      n.put("dtype", t.dtype.name());
      var shape = n.putArray("shape");
      for (long d : t.shape) {
        shape.add(d);
      }
      n.putArray("data_offsets").add(offset).add(offset + t.bytes());
      offset += t.bytes();
    }
    byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (h.length + 7) / 8 * 8;
    ByteBuffer start = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    start.putLong(padded).put(h);
    while (start.hasRemaining()) {
      start.put((byte) ' ');
    }
    try (FileChannel out =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(out, start.flip());
      ByteBuffer chunk = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
      for (Entry t : entries) {
        Elements elements = t.data.get();
        for (long left = t.bytes(); left > 0; left -= chunk.limit()) {
          chunk.clear().limit((int) Math.min(CHUNK, left));
          elements.next(chunk);
          if (chunk.hasRemaining()) {
            throw new IllegalStateException(t.name + ": its elements stopped short of its shape");
          }
          writeFully(out, chunk.flip());
        }
      }
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }

  /** fp32 to bf16, round to nearest even (as torch's .to(bfloat16)). */
  public static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int rounding = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }
}
