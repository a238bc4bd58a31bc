package io.latentstream.engine;

import io.latentstream.model.LatentCache;

/**
 * One sequence's state between steps: the main model's latent cache and, alongside, the MTP block's
 * own cache (null without MTP). The engine appends to both; callers roll back with {@link
 * #truncate}.
 */
public final class Sequence {
  private final LatentCache cache;
  private final LatentCache mtpCache;

  Sequence(LatentCache cache, LatentCache mtpCache) {
    this.cache = cache;
    this.mtpCache = mtpCache;
  }

  /** Tokens processed by the main model (the position the next token takes). */
  public int length() {
    return cache.length();
  }

  /** The main model's cache: [layer][token][kv_lora_rank + qk_rope_head_dim]. */
  public LatentCache cache() {
    return cache;
  }

  /** The MTP block's cache (one layer), or null when the model has no MTP module. */
  public LatentCache mtpCache() {
    return mtpCache;
  }

  /**
   * Keeps the first n tokens (speculative decoding rolls back rejected drafts). MTP entry j pairs
   * hidden state j with token j+1, so only entries below n-1 stay valid.
   */
  public void truncate(int n) {
    cache.truncate(n);
    if (mtpCache != null && mtpCache.length() > Math.max(0, n - 1)) {
      mtpCache.truncate(Math.max(0, n - 1));
    }
  }
}
