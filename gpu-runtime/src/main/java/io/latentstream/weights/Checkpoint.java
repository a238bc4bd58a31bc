package io.latentstream.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint directory: sharded safetensors through {@code model.safetensors.index.json}, or one
 * {@code model.safetensors}. Weight matrices are read by name as stored ({@link #weight}: bf16
 * bits, fp8 bytes with their {@code weight_scale_inv} block scales) for a backend to pack; other
 * tensors into fp32 ({@link #read}, fp8 dequantized with its block scales on the way). Tensors are
 * read into heap arrays, never mapped, so nothing of the checkpoint stays resident after loading.
 */
public final class Checkpoint implements AutoCloseable {
  /** Receives progress while tensors are read: bytes read so far out of the checkpoint's total. */
  @FunctionalInterface
  public interface Progress {
    void loaded(String tensor, long bytesRead, long bytesTotal);

    Progress NONE = (t, r, n) -> {};
  }

  /** An fp8 weight's block scales are the tensor of its name with this suffix. */
  public static final String SCALE_SUFFIX = "_scale_inv";

  private final Path dir;
  private final List<SafetensorsFile> files;
  private final Map<String, TensorInfo> tensors;
  private final Map<Path, SafetensorsFile> byPath = new HashMap<>();
  private final Progress progress;
  private final long totalBytes;
  private long bytesRead;
  private int blockSize;

  private Checkpoint(
      Path dir, List<SafetensorsFile> files, Map<String, TensorInfo> tensors, Progress progress) {
    this.dir = dir;
    this.files = files;
    this.tensors = tensors;
    this.progress = progress;
    long total = 0;
    for (SafetensorsFile f : files) {
      byPath.put(f.path(), f);
    }
    for (TensorInfo t : tensors.values()) {
      total += t.end() - t.begin();
    }
    this.totalBytes = total;
  }

  /** Opens a checkpoint directory; each shard's header is validated now, tensor data when read. */
  public static Checkpoint open(Path dir, Progress progress) throws IOException {
    Path index = dir.resolve("model.safetensors.index.json");
    Path single = dir.resolve("model.safetensors");
    List<SafetensorsFile> files = new ArrayList<>();
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    try {
      if (Files.exists(index)) {
        JsonNode map = new ObjectMapper().readTree(index.toFile()).get("weight_map");
        if (map == null || !map.isObject()) {
          throw new WeightsException(index + ": bad index (no weight_map object)");
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          String shard = e.getValue().asText();
          SafetensorsFile f = shards.get(shard);
          if (f == null) {
            f = SafetensorsFile.open(dir.resolve(shard));
            shards.put(shard, f);
            files.add(f);
          }
          TensorInfo t = f.tensors().get(e.getKey());
          if (t == null) {
            throw new WeightsException(
                f.path()
                    + ": missing tensor '"
                    + e.getKey()
                    + "' (listed in "
                    + index.getFileName()
                    + ")");
          }
          tensors.put(e.getKey(), t);
        }
      } else if (Files.exists(single)) {
        SafetensorsFile f = SafetensorsFile.open(single);
        files.add(f);
        tensors.putAll(f.tensors());
      } else {
        throw new WeightsException(dir + ": no model.safetensors.index.json or model.safetensors");
      }
    } catch (IOException | RuntimeException e) {
      for (SafetensorsFile f : files) {
        f.close();
      }
      throw e;
    }
    return new Checkpoint(dir, files, tensors, progress);
  }

  /** Sets the fp8 block edge from the config; 0 means fp8 tensors carry no scales. */
  public void setBlockSize(int blockSize) {
    this.blockSize = blockSize;
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /**
   * Reads a tensor into fp32, checking its shape against what the config implies: for the small
   * tensors kept in fp32 (norms, biases) and for backends that widen every weight.
   *
   * @throws WeightsException naming the file and tensor when it is missing or mis-shaped
   */
  public float[] read(String name, long... expectedShape) throws IOException {
    TensorInfo t = info(name, expectedShape);
    if (t.dtype() == DType.F8_E4M3) {
      return fp8(t).toFloats();
    }
    float[] out = new float[Math.toIntExact(t.elements())];
    decode(t, out);
    progress.loaded(name, bytesRead, totalBytes);
    return out;
  }

  /** How a tensor is stored. */
  public DType dtype(String name) throws WeightsException {
    return find(name).dtype();
  }

  /**
   * Reads a weight matrix [rows, cols] as stored, for a backend to pack: bf16 as its bits, fp8 as
   * its e4m3 bytes and block scales, any other dtype widened to fp32. The bytes are read straight
   * into the returned arrays (no mapping, no fp32 copy).
   *
   * @throws WeightsException when it is missing or mis-shaped, or fp8 without scales
   */
  public Weight weight(String name, int rows, int cols) throws IOException {
    TensorInfo t = info(name, rows, cols);
    if (t.dtype() == DType.F8_E4M3) {
      return fp8(t);
    }
    if (t.dtype() == DType.BF16) {
      short[] bits = new short[Math.toIntExact(t.elements())];
      ByteBuffer chunk = chunk(t);
      for (long at = 0; at < t.end() - t.begin(); at += chunk.limit()) {
        next(t, at, chunk).asShortBuffer().get(bits, (int) (at / 2), chunk.limit() / 2);
      }
      progress.loaded(name, bytesRead, totalBytes);
      return new Weight.Bf16(bits, rows, cols);
    }
    float[] out = new float[Math.toIntExact(t.elements())];
    decode(t, out);
    progress.loaded(name, bytesRead, totalBytes);
    return new Weight.F32(out, rows, cols);
  }

  /**
   * Reads an F8_E4M3 tensor's raw bytes and block scales, checking its shape: for a backend that
   * multiplies by fp8 weights without widening them.
   *
   * @throws WeightsException when it is missing, mis-shaped, not fp8 or without scales
   */
  public Weight.Fp8 readFp8(String name, long rows, long cols) throws IOException {
    TensorInfo t = info(name, rows, cols);
    if (t.dtype() != DType.F8_E4M3) {
      throw new WeightsException(
          t.file() + ": tensor '" + name + "' is " + t.dtype() + ", not F8_E4M3");
    }
    return fp8(t);
  }

  /** An F8_E4M3 tensor's bytes, read in place, and its block scales. */
  private Weight.Fp8 fp8(TensorInfo t) throws IOException {
    float[] scales = blockScales(t);
    byte[] values = new byte[Math.toIntExact(t.elements())];
    count(t);
    byPath.get(t.file()).read(t, 0, ByteBuffer.wrap(values));
    progress.loaded(t.name(), bytesRead, totalBytes);
    return new Weight.Fp8(values, scales, blockSize, (int) t.shape()[0], (int) t.shape()[1]);
  }

  /** Bytes per chunk when a tensor is converted on its way in: divides every dtype's size. */
  private static final int CHUNK_BYTES = 1 << 20;

  /**
   * One direct chunk buffer for every tensor converted on its way in: a heap buffer per tensor was
   * a 1 MiB humongous object each time, garbage the collector let pile up to gigabytes while a
   * model loaded.
   */
  private final ByteBuffer chunk =
      ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);

  /** The chunk buffer for reading t, counting t as read. */
  private ByteBuffer chunk(TensorInfo t) {
    count(t);
    return chunk;
  }

  /** Fills chunk with t's bytes from byte {@code at} on (as many as fit), ready to get. */
  private ByteBuffer next(TensorInfo t, long at, ByteBuffer chunk) throws IOException {
    chunk.clear().limit((int) Math.min(chunk.capacity(), t.end() - t.begin() - at));
    byPath.get(t.file()).read(t, at, chunk);
    return chunk.flip();
  }

  /** Decodes a tensor into fp32 chunk by chunk. */
  private void decode(TensorInfo t, float[] out) throws IOException {
    int size = t.dtype().bytes();
    ByteBuffer chunk = chunk(t);
    for (long at = 0; at < t.end() - t.begin(); at += chunk.limit()) {
      t.dtype().decode(next(t, at, chunk), 0, out, (int) (at / size), chunk.limit() / size);
    }
  }

  private TensorInfo find(String name) throws WeightsException {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw new WeightsException(dir + ": missing tensor '" + name + "'");
    }
    return t;
  }

  /** A tensor's header entry, its shape checked against what the config implies. */
  private TensorInfo info(String name, long... expectedShape) throws WeightsException {
    TensorInfo t = find(name);
    if (!Arrays.equals(t.shape(), expectedShape)) {
      throw new WeightsException(
          t.file()
              + ": tensor '"
              + name
              + "' has shape "
              + Arrays.toString(t.shape())
              + ", the config implies "
              + Arrays.toString(expectedShape));
    }
    return t;
  }

  private void count(TensorInfo t) {
    bytesRead += t.end() - t.begin();
  }

  /** An fp8 tensor's {@code weight_scale_inv}: one fp32 scale per tile, row-major. */
  private float[] blockScales(TensorInfo t) throws IOException {
    if (blockSize == 0 || t.shape().length != 2) {
      throw new WeightsException(
          t.file()
              + ": tensor '"
              + t.name()
              + "' is F8_E4M3 but the config has no"
              + " quantization_config.weight_block_size");
    }
    long br = (t.shape()[0] + blockSize - 1) / blockSize;
    long bc = (t.shape()[1] + blockSize - 1) / blockSize;
    return read(t.name() + SCALE_SUFFIX, br, bc);
  }

  @Override
  public void close() throws IOException {
    for (SafetensorsFile f : files) {
      f.close();
    }
  }
}
