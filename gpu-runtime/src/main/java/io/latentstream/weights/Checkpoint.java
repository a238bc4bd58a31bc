package io.latentstream.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
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
 * {@code model.safetensors}. Tensors are read by name into fp32 (the CPU backend's layout), fp8
 * weights dequantized with their {@code weight_scale_inv} block scales on the way; or, for a
 * backend whose kernels multiply by fp8 weights themselves, as stored ({@link #readFp8}).
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
   * Reads a tensor into fp32, checking its shape against what the config implies.
   *
   * @throws WeightsException naming the file and tensor when it is missing or mis-shaped
   */
  public float[] read(String name, long... expectedShape) throws IOException {
    TensorInfo t = info(name, expectedShape);
    float[] out = new float[Math.toIntExact(t.elements())];
    t.dtype().decode(bytes(t), 0, out, 0, out.length);
    if (t.dtype() == DType.F8_E4M3) {
      applyBlockScales(t, out);
    }
    progress.loaded(name, bytesRead, totalBytes);
    return out;
  }

  /** How a tensor is stored. */
  public DType dtype(String name) throws WeightsException {
    return find(name).dtype();
  }

  /**
   * An fp8 weight as stored, for a backend that multiplies by it without widening it: e4m3 values
   * [rows, cols] and their fp32 block scales [ceil(rows / b), ceil(cols / b)] (weight_scale_inv), b
   * the block size.
   */
  public record Fp8Weight(byte[] values, float[] scales) {}

  /**
   * Reads an F8_E4M3 tensor's raw bytes and block scales, checking its shape.
   *
   * @throws WeightsException when it is missing, mis-shaped, not fp8 or without scales
   */
  public Fp8Weight readFp8(String name, long rows, long cols) throws IOException {
    TensorInfo t = info(name, rows, cols);
    if (t.dtype() != DType.F8_E4M3) {
      throw new WeightsException(
          t.file() + ": tensor '" + name + "' is " + t.dtype() + ", not F8_E4M3");
    }
    byte[] values = new byte[Math.toIntExact(t.elements())];
    bytes(t).get(values);
    float[] scales = blockScales(t);
    progress.loaded(name, bytesRead, totalBytes);
    return new Fp8Weight(values, scales);
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

  /** A tensor's stored bytes, counted as read. */
  private ByteBuffer bytes(TensorInfo t) throws IOException {
    bytesRead += t.end() - t.begin();
    return byPath.get(t.file()).bytes(t);
  }

  /** Multiplies each 128x128 (block-size) tile by its scale: DeepSeek-V3's weight_dequant. */
  private void applyBlockScales(TensorInfo t, float[] w) throws IOException {
    float[] s = blockScales(t);
    int rows = (int) t.shape()[0];
    int cols = (int) t.shape()[1];
    int bc = (cols + blockSize - 1) / blockSize;
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        w[r * cols + c] *= s[(r / blockSize) * bc + c / blockSize];
      }
    }
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
