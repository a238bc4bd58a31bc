package io.latentstream.engine;

/**
 * How much latent cache an engine holds for all its sequences together: {@code blocks} blocks of
 * {@code blockTokens} tokens each, a sequence holding whole blocks. The scheduler admits a request
 * only when the blocks it may grow to are free, so a full cache makes requests wait, never fail.
 */
public record CacheCapacity(int blockTokens, long blocks) {
  /** The CPU engine's caches are heap arrays, bounded by the loop's limits instead. */
  public static final CacheCapacity UNBOUNDED = new CacheCapacity(1, Long.MAX_VALUE);

  public CacheCapacity {
    if (blockTokens <= 0 || blocks < 0) {
      throw new IllegalArgumentException("blocks of " + blockTokens + " tokens, " + blocks);
    }
  }

  /** Blocks that hold {@code tokens} tokens of one sequence. */
  public long blocksFor(long tokens) {
    return (tokens + blockTokens - 1) / blockTokens;
  }
}
