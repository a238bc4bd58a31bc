package io.latentstream.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.CheckpointWriter;
import io.latentstream.weights.DType;
import io.latentstream.weights.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * A DeepSeek-V3 checkpoint of random weights for any config, written tensor by tensor (nothing of
 * the model is held in memory), for tests, benchmarks and capacity planning.
 *
 * <p>Two formats of the same model: {@link Format#FP8} stores the decoder blocks' linear weights as
 * DeepSeek-V3's release does (F8_E4M3, fp32 {@code weight_scale_inv} per 128x128 block, {@code
 * quantization_config} in config.json); {@link Format#BF16} stores exactly their dequantized
 * values. Each fp8 value is drawn, and block scales are powers of two, so every product is a bf16
 * number: for one seed the two checkpoints hold the same model. Every other tensor is the same bf16
 * (the router's bias fp32) in both.
 *
 * <p>Magnitudes keep activations of order 1 through the layers: linear weights of rms
 * 1/sqrt(fan_in), norms near 1, an embedding of rms 1, a small router bias. Each tensor's values
 * come from its own stream, seeded by the seed and its name, so they do not depend on the format,
 * the order of writing or the sharding.
 */
public final class RandomCheckpoint {
  /** How the decoder blocks' linear weights are stored. */
  public enum Format {
    BF16,
    FP8
  }

  private static final double SQRT3 = Math.sqrt(3);

  /** The edge of DeepSeek-V3's fp8 scale blocks. */
  public static final int BLOCK = 128;

  /** Uniform fp8 values over the whole E4M3 range, as a block scaled to its maximum is. */
  private static final float FP8_MAX = 448f;

  /** The rms of a uniform draw over [-FP8_MAX, FP8_MAX]. */
  private static final double FP8_RMS = FP8_MAX / SQRT3;

  /** The rms of a block's scale factor 2^d, d uniform in {-1, 0, 1}: sqrt((1/4 + 1 + 4) / 3). */
  private static final double BLOCK_RMS = Math.sqrt(1.75);

  /** The E4M3 byte nearest each 16-bit uniform draw u, read as (u - 32767.5) / 32768 x 448. */
  private static final byte[] E4M3_OF_DRAW = e4m3OfDraw();

  private RandomCheckpoint() {}

  /**
   * Writes config.json (with DeepSeek-V3's quantization_config for fp8, without one for bf16) and
   * the weights of its model into dir, in shards of at most shardBytes.
   */
  public static CheckpointWriter.Written write(
      Path dir, ObjectNode config, Format format, long seed, long shardBytes) throws IOException {
    ObjectNode json = config.deepCopy();
    if (format == Format.FP8) {
      ObjectNode q = json.putObject("quantization_config");
      q.put("activation_scheme", "dynamic");
      q.put("fmt", "e4m3");
      q.put("quant_method", "fp8");
      q.putArray("weight_block_size").add(BLOCK).add(BLOCK);
    } else {
      json.remove("quantization_config");
    }
    String text = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(json);
    ModelConfig c = ModelConfig.parse(text);
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), text);
    return tensors(c, format, seed, shardBytes).write(dir);
  }

  /** The tensors of the model, ready to write: their data is drawn only as they are written. */
  public static CheckpointWriter tensors(ModelConfig c, Format format, long seed, long shardBytes) {
    CheckpointWriter w = new CheckpointWriter(shardBytes);
    for (CheckpointLayout.Tensor t : CheckpointLayout.of(c)) {
      String name = t.name();
      long[] shape = t.shape();
      switch (t.kind()) {
        case EMBED -> w.add(name, DType.BF16, shape, uniform(seed, name, DType.BF16, 0, SQRT3));
        case GATE_BIAS -> w.add(name, DType.F32, shape, uniform(seed, name, DType.F32, 0, 0.05));
        case ATTN_NORM, Q_NORM, KV_NORM, FFN_NORM, NORM, MTP_ENORM, MTP_HNORM, MTP_HEAD_NORM ->
            w.add(name, DType.BF16, shape, uniform(seed, name, DType.BF16, 1, 0.1));
        default -> {
          int rows = Math.toIntExact(shape[0]);
          int cols = Math.toIntExact(shape[1]);
          if (!t.kind().blockFp8()) {
            double halfWidth = SQRT3 / Math.sqrt(cols);
            w.add(name, DType.BF16, shape, uniform(seed, name, DType.BF16, 0, halfWidth));
          } else if (format == Format.FP8) {
            w.add(name, DType.F8_E4M3, shape, () -> new Fp8(new Draws(seed, name)));
            long[] blocks = {ceilDiv(rows, BLOCK), ceilDiv(cols, BLOCK)};
            w.add(
                name + Checkpoint.SCALE_SUFFIX,
                DType.F32,
                blocks,
                () -> new Scales(scales(seed, name, rows, cols)));
          } else {
            w.add(
                name,
                DType.BF16,
                shape,
                () -> new Dequantized(new Draws(seed, name), scales(seed, name, rows, cols), cols));
          }
        }
      }
    }
    return w;
  }

  /**
   * The block scales of an fp8 weight, row-major [ceil(rows/128), ceil(cols/128)]: powers of two
   * around the one that gives the weight rms 1/sqrt(cols).
   */
  private static float[] scales(long seed, String name, int rows, int cols) {
    SplittableRandom rnd = new SplittableRandom(streamSeed(seed, name + Checkpoint.SCALE_SUFFIX));
    double target = 1 / Math.sqrt(cols);
    int base = (int) Math.round(Math.log(target / (FP8_RMS * BLOCK_RMS)) / Math.log(2));
    float[] s = new float[ceilDiv(rows, BLOCK) * ceilDiv(cols, BLOCK)];
    for (int i = 0; i < s.length; i++) {
      s[i] = Math.scalb(1f, base + rnd.nextInt(3) - 1);
    }
    return s;
  }

  /**
   * Values uniform over [center - halfWidth, center + halfWidth] (rms halfWidth / sqrt(3) about the
   * center), stored BF16 or F32.
   */
  private static Supplier<SafetensorsWriter.Elements> uniform(
      long seed, String name, DType dtype, double center, double halfWidth) {
    float c = (float) center;
    float step = (float) (halfWidth / 32768);
    return () -> {
      Draws draws = new Draws(seed, name);
      return dst -> {
        while (dst.hasRemaining()) {
          float v = c + (draws.next() - 32767.5f) * step;
          if (dtype == DType.F32) {
            dst.putFloat(v);
          } else {
            dst.putShort(SafetensorsWriter.toBf16(v));
          }
        }
      };
    };
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  /**
   * A tensor's stream of 16-bit uniform draws, carried across chunks so chunking cannot alter it.
   */
  private static final class Draws {
    private final SplittableRandom rnd;
    private long bits;
    private int left;

    Draws(long seed, String name) {
      rnd = new SplittableRandom(streamSeed(seed, name));
    }

    int next() {
      if (left == 0) {
        bits = rnd.nextLong();
        left = 4;
      }
      left--;
      int u = (int) (bits & 0xffff);
      bits >>>= 16;
      return u;
    }
  }

  /** An fp8 weight's stored bytes. */
  private record Fp8(Draws draws) implements SafetensorsWriter.Elements {
    @Override
    public void next(ByteBuffer dst) {
      while (dst.hasRemaining()) {
        dst.put(E4M3_OF_DRAW[draws.next()]);
      }
    }
  }

  /** An fp8 weight's block scales, as fp32. */
  private static final class Scales implements SafetensorsWriter.Elements {
    private final float[] scales;
    private int at;

    Scales(float[] scales) {
      this.scales = scales;
    }

    @Override
    public void next(ByteBuffer dst) {
      while (dst.hasRemaining()) {
        dst.putFloat(scales[at++]);
      }
    }
  }

  /** An fp8 weight dequantized (value x block scale), exact in bf16, row-major. */
  private static final class Dequantized implements SafetensorsWriter.Elements {
    private final Draws draws;
    private final float[] scales;
    private final int cols;
    private final int blockCols;
    private int row;
    private int col;

    Dequantized(Draws draws, float[] scales, int cols) {
      this.draws = draws;
      this.scales = scales;
      this.cols = cols;
      this.blockCols = ceilDiv(cols, BLOCK);
    }

    @Override
    public void next(ByteBuffer dst) {
      while (dst.hasRemaining()) {
        float scale = scales[(row / BLOCK) * blockCols + col / BLOCK];
        float v = DType.e4m3(E4M3_OF_DRAW[draws.next()]) * scale;
        dst.putShort(SafetensorsWriter.toBf16(v));
        if (++col == cols) {
          col = 0;
          row++;
        }
      }
    }
  }

  /** A stream's seed from the checkpoint's seed and a tensor name (64-bit FNV-1a of its bytes). */
  private static long streamSeed(long seed, String name) {
    long h = 0xcbf29ce484222325L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return h ^ (seed * 0x9e3779b97f4a7c15L);
  }

  private static byte[] e4m3OfDraw() {
    byte[] table = new byte[1 << 16];
    for (int u = 0; u < table.length; u++) {
      float x = (u - 32767.5f) * (FP8_MAX / 32768);
      float a = Math.abs(x);
      // Positive finite E4M3 bytes 0x00..0x7e increase with their value: bisect for the nearest.
      int lo = 0;
      int hi = 0x7e;
      while (lo < hi) {
        int mid = (lo + hi + 1) >>> 1;
        if (DType.e4m3((byte) mid) <= a) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      int b = lo;
      if (b < 0x7e && DType.e4m3((byte) (b + 1)) - a < a - DType.e4m3((byte) b)) {
        b++;
      }
      table[u] = (byte) (x < 0 ? b | 0x80 : b);
    }
    return table;
  }
}
