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

  /**
   * The most tokens a generation may cache: its context and new tokens, and one drafted token
   * verified past the end.
   */
  public static int tokensFor(int contextTokens, int maxNewTokens) {
    return contextTokens + maxNewTokens + 1;
  }

  /** Whether one sequence of {@code tokens} tokens fits the whole cache. */
  public boolean fits(long tokens) {
    return blocksFor(tokens) <= blocks;
  }

  /** Blocks that hold {@code tokens} tokens of one sequence. */
  public long blocksFor(long tokens) {
    return (tokens + blockTokens - 1) / blockTokens;
  }
}
