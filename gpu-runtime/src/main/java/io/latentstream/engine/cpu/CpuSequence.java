package io.latentstream.engine.cpu;

import io.latentstream.engine.Sequence;
import io.latentstream.model.LatentCache;

/**
 * A sequence of the CPU engine: the main model's latent cache and, alongside, the MTP block's own
 * cache (null without MTP), in host memory. The engine appends to both.
 */
public final class CpuSequence implements Sequence {
  private final LatentCache cache;
  private final LatentCache mtpCache;

  CpuSequence(LatentCache cache, LatentCache mtpCache) {
    this.cache = cache;
    this.mtpCache = mtpCache;
  }

  @Override
  public int length() {
    return cache.length();
  }

  /** The main model's cache: [layer][token][kv_lora_rank + qk_rope_head_dim]. */
  LatentCache cache() {
    return cache;
  }

  /** The MTP block's cache (one layer), or null when the model has no MTP module. */
  LatentCache mtpCache() {
    return mtpCache;
  }

  @Override
  public int mtpLength() {
    return mtpCache == null ? -1 : mtpCache.length();
  }

  @Override
  public byte[] exportRange(int from, int to) {
    return cache.exportRange(from, to);
  }

  @Override
  public void importRange(int from, byte[] bytes) {
    cache.importRange(from, bytes);
  }

  @Override
  public void truncate(int n) {
    cache.truncate(n);
    if (mtpCache != null && mtpCache.length() > Math.max(0, n - 1)) {
      mtpCache.truncate(Math.max(0, n - 1));
    }
  }
}
