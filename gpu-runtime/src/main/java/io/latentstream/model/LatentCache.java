package io.latentstream.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * One sequence's MLA cache: per layer and token, the kv_lora_rank normalized latent c_kv followed
 * by the qk_rope_head_dim rotated shared key k_pe ({@code kv_cache} and {@code pe_cache} of
 * inference/model.py). One growable slab per layer, [capacity, latentDim] row-major.
 */
public final class LatentCache {
  private final int layers;
  private final int latentDim;
  private final float[][] slabs;
  private int length;

  public LatentCache(int layers, int latentDim) {
    this.layers = layers;
    this.latentDim = latentDim;
    this.slabs = new float[layers][latentDim * 16];
  }

  /** Tokens cached (the next position). */
  public int length() {
    return length;
  }

  public int layers() {
    return layers;
  }

  public int latentDim() {
    return latentDim;
  }

  /** Drops every token from position n on (speculative decoding rolls back rejected drafts). */
  public void truncate(int n) {
    if (n < 0 || n > length) {
      throw new IllegalArgumentException("truncate(" + n + ") of a cache holding " + length);
    }
    length = n;
  }

  /** Makes room for positions up to newLength; the engine advances length once a step is done. */
  void reserve(int newLength) {
    if (newLength * latentDim > slabs[0].length) {
      int cap = Math.max(newLength, slabs[0].length / latentDim * 2);
      for (int l = 0; l < layers; l++) {
        slabs[l] = Arrays.copyOf(slabs[l], cap * latentDim);
      }
    }
  }

  void setLength(int n) {
    length = n;
  }

  /** The layer's slab; row p starts at p * latentDim. */
  float[] slab(int layer) {
    return slabs[layer];
  }

  /** Bytes one token occupies across all layers (to size transport chunks). */
  public int bytesPerToken() {
    return bytesPerToken(layers, latentDim);
  }

  /** Bytes of one token's exported latents in a cache of these dimensions. */
  public static int bytesPerToken(int layers, int latentDim) {
    return layers * latentDim * Float.BYTES;
  }

  /**
   * The tokens [from, to) as little-endian fp32, token-major: [token][layer][value]. Token-major so
   * that exports of consecutive ranges concatenate into the export of their union: a session's
   * cache is stored turn by turn. Round-trips bitwise through {@link #importRange}.
   */
  public byte[] exportRange(int from, int to) {
    if (from < 0 || to < from || to > length) {
      throw new IllegalArgumentException(
          "range [" + from + ", " + to + ") of a cache holding " + length);
    }
    ByteBuffer bytes = ByteBuffer.allocate((to - from) * bytesPerToken());
    FloatBuffer out = bytes.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int token = from; token < to; token++) {
      for (int l = 0; l < layers; l++) {
        out.put(slabs[l], token * latentDim, latentDim);
      }
    }
    return bytes.array();
  }

  /**
   * Writes tokens exported by {@link #exportRange} at positions [from, from + count); from must not
   * exceed length (imports append or overwrite a suffix), and length becomes from + count.
   */
  public void importRange(int from, byte[] bytes) {
    if (from < 0 || from > length || bytes.length % bytesPerToken() != 0) {
      throw new IllegalArgumentException(
          "import of "
              + bytes.length
              + " bytes at "
              + from
              + " into a cache holding "
              + length
              + " ("
              + bytesPerToken()
              + " bytes per token)");
    }
    int count = bytes.length / bytesPerToken();
    reserve(from + count);
    FloatBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int token = from; token < from + count; token++) {
      for (int l = 0; l < layers; l++) {
        in.get(slabs[l], token * latentDim, latentDim);
      }
    }
    length = from + count;
  }
}
