package io.latentstream.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a safetensors file from fp32 arrays, stored as F32 or BF16 (round to nearest even). Used
 * by {@code latentstream logits --out} and by tests that build synthetic checkpoints.
 */
public final class SafetensorsWriter {
  private record Entry(DType dtype, long[] shape, float[] data) {}

  private final Map<String, Entry> entries = new LinkedHashMap<>();

  /** Adds a tensor; data.length must equal the product of shape. */
  public SafetensorsWriter add(String name, DType dtype, float[] data, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n != data.length) {
      throw new IllegalArgumentException(name + ": " + data.length + " values for shape of " + n);
    }
    if (dtype != DType.F32 && dtype != DType.BF16) {
      throw new IllegalArgumentException(name + ": the writer stores F32 or BF16, not " + dtype);
    }
    entries.put(name, new Entry(dtype, shape.clone(), data));
    return this;
  }

  public void write(Path file) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode header = json.createObjectNode();
    header.putObject("__metadata__").put("format", "pt");
    long offset = 0;
    for (Map.Entry<String, Entry> e : entries.entrySet()) {
      Entry t = e.getValue();
      long len = (long) t.data.length * t.dtype.bytes();
      ObjectNode n = header.putObject(e.getKey());
      n.put("dtype", t.dtype.name());
      var shape = n.putArray("shape");
      for (long d : t.shape) {
        shape.add(d);
      }
      n.putArray("data_offsets").add(offset).add(offset + len);
      offset += len;
    }
    byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (h.length + 7) / 8 * 8;
    try (OutputStream out = Files.newOutputStream(file)) {
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
      out.write(len.array());
      out.write(h);
      for (int i = h.length; i < padded; i++) {
        out.write(' ');
      }
      for (Entry t : entries.values()) {
        ByteBuffer b =
            ByteBuffer.allocate(t.data.length * t.dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : t.data) {
          if (t.dtype == DType.F32) {
            b.putFloat(v);
          } else {
            b.putShort(toBf16(v));
          }
        }
        out.write(b.array());
      }
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
