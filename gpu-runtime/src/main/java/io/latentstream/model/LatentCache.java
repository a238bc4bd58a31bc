package io.latentstream.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
    return layers * latentDim * Float.BYTES;
  }

  /**
   * The tokens [from, to) of every layer as little-endian fp32, layer-major: [layer][token][value].
   * Round-trips bitwise through {@link #importRange}.
   */
  public byte[] exportRange(int from, int to) {
    if (from < 0 || to < from || to > length) {
      throw new IllegalArgumentException(
          "range [" + from + ", " + to + ") of a cache holding " + length);
    }
    int n = (to - from) * latentDim;
    ByteBuffer b = ByteBuffer.allocate(layers * n * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (int l = 0; l < layers; l++) {
      b.asFloatBuffer().position(l * n).put(slabs[l], from * latentDim, n);
    }
    return b.array();
  }

  /**
   * Writes tokens exported by {@link #exportRange} at positions [from, from + count); from must not
   * exceed length (imports append or overwrite a suffix), and length becomes from + count.
   */
  public void importRange(int from, byte[] bytes) {
    int perLayer = bytes.length / Float.BYTES / layers;
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
    int count = perLayer / latentDim;
    reserve(from + count);
    var fb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int l = 0; l < layers; l++) {
      fb.position(l * perLayer);
      fb.get(slabs[l], from * latentDim, perLayer);
    }
    length = from + count;
  }
}
