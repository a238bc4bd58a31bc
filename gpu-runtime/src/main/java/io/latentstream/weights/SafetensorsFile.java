package io.latentstream.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One safetensors file: its header parsed and validated, each tensor's bytes read on demand by
 * positional reads into the caller's buffer (no memory mapping: mapped pages count in the process's
 * RSS until the mapping is garbage collected, so a loaded model would hold its checkpoint twice).
 * Shards above 2 GiB are fine; {@link #bytes} needs a tensor below 2 GiB, which every DeepSeek-V3
 * tensor is.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** Headers are JSON of a few MB even for the largest shards; more means a corrupt file. */
  private static final long MAX_HEADER = 100L << 20;

  private final Path path;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, TensorInfo> tensors;

  private SafetensorsFile(
      Path path, FileChannel channel, long dataStart, Map<String, TensorInfo> t) {
    this.path = path;
    this.channel = channel;
    this.dataStart = dataStart;
    this.tensors = t;
  }

  /**
   * Opens and validates a file; every error names the file (and the tensor where one is at fault).
   */
  public static SafetensorsFile open(Path path) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new WeightsException(path + ": missing file");
    }
    try {
      long size = ch.size();
      if (size < 8) {
        throw new WeightsException(path + ": truncated file (" + size + " bytes, no header)");
      }
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, len, 0);
      long headerLen = len.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER) {
        throw new WeightsException(path + ": bad header (declared length " + headerLen + ")");
      }
      if (8 + headerLen > size) {
        throw new WeightsException(
            path + ": truncated file (header of " + headerLen + " bytes, file " + size + ")");
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      readFully(ch, header, 8);
      JsonNode root;
      try {
        root = new ObjectMapper().readTree(new String(header.array(), StandardCharsets.UTF_8));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new WeightsException(
            path + ": bad header (not JSON: " + e.getOriginalMessage() + ")");
      }
      if (root == null || !root.isObject()) {
        throw new WeightsException(path + ": bad header (not a JSON object)");
      }
      long dataSize = size - 8 - headerLen;
      Map<String, TensorInfo> tensors = new LinkedHashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getKey().equals("__metadata__")) {
          tensors.put(e.getKey(), entry(path, e.getKey(), e.getValue(), dataSize));
        }
      }
      return new SafetensorsFile(path, ch, 8 + headerLen, Collections.unmodifiableMap(tensors));
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private static TensorInfo entry(Path path, String name, JsonNode n, long dataSize)
      throws WeightsException {
    String where = path + ": tensor '" + name + "': ";
    JsonNode shapeNode = n.get("shape");
    JsonNode offsets = n.get("data_offsets");
    if (!n.has("dtype")
        || shapeNode == null
        || !shapeNode.isArray()
        || offsets == null
        || !offsets.isArray()
        || offsets.size() != 2) {
      throw new WeightsException(where + "bad header entry " + n);
    }
    DType dtype;
    try {
      dtype = DType.of(n.get("dtype").asText());
    } catch (IllegalArgumentException e) {
      throw new WeightsException(where + e.getMessage());
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong(-1);
      if (shape[i] < 0) {
        throw new WeightsException(where + "bad header (shape " + shapeNode + ")");
      }
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    TensorInfo t = new TensorInfo(path, name, dtype, shape, begin, end);
    if (begin < 0 || end < begin || end - begin != t.elements() * dtype.bytes()) {
      throw new WeightsException(
          where + "bad header (offsets " + offsets + " do not fit " + dtype + shapeNode + ")");
    }
    if (end > dataSize) {
      throw new WeightsException(
          where + "truncated file (data ends at " + end + ", file holds " + dataSize + ")");
    }
    return t;
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long at) throws IOException {
    while (buf.hasRemaining()) {
      if (ch.read(buf, at + buf.position()) < 0) {
        break;
      }
    }
    buf.flip();
  }

  public Path path() {
    return path;
  }

  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /**
   * The tensor's bytes read into a heap buffer, little-endian, position 0 at its first element. A
   * copy, not a mapping: mapped pages would stay in the process's RSS until the buffer is garbage
   * collected.
   */
  public ByteBuffer bytes(TensorInfo t) throws IOException {
    long len = t.end() - t.begin();
    if (len > Integer.MAX_VALUE) {
      throw new WeightsException(t + ": tensors above 2 GiB are not supported");
    }
    ByteBuffer b = ByteBuffer.allocate((int) len).order(ByteOrder.LITTLE_ENDIAN);
    read(t, 0, b);
    return b.flip();
  }

  /**
   * Fills dst's remaining bytes with the tensor's bytes from byte {@code offset} on, by positional
   * reads of at most {@link #READ_BYTES} (a larger heap read would make the JDK allocate, and cache
   * per thread, a direct buffer as large as the read).
   *
   * @throws WeightsException when the file ends first
   */
  public void read(TensorInfo t, long offset, ByteBuffer dst) throws IOException {
    if (offset < 0 || offset + dst.remaining() > t.end() - t.begin()) {
      throw new IllegalArgumentException(
          t + ": bytes [" + offset + ", " + (offset + dst.remaining()) + ") out of range");
    }
    long at = dataStart + t.begin() + offset;
    int limit = dst.limit();
    try {
      while (dst.hasRemaining()) {
        dst.limit(Math.min(limit, dst.position() + READ_BYTES));
        int n = channel.read(dst, at);
        if (n < 0) {
          throw new WeightsException(t + ": truncated file (ends at byte " + at + ")");
        }
        at += n;
        dst.limit(limit);
      }
    } finally {
      dst.limit(limit);
    }
  }

  /** The largest single read: {@link #read} goes through a temporary direct buffer this large. */
  private static final int READ_BYTES = 1 << 20;

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
