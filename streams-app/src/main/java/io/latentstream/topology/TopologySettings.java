package io.latentstream.topology;

import java.time.Duration;

/**
 * The knobs of the generation topology.
 *
 * @param maxNewTokensLimit the largest max_new_tokens a prompt may ask for
 * @param emitInterval how often finished tokens are forwarded (a wall-clock punctuation)
 * @param sessionTtl sessions unused this long are evicted with their caches
 * @param sessionCacheMaxBytes the latent caches of one task's sessions take at most this much;
 *     least recently used sessions go first
 * @param requestIdRetention how long completed request ids are remembered to refuse duplicates
 */
public record TopologySettings(
    int maxNewTokensLimit,
    Duration emitInterval,
    Duration sessionTtl,
    long sessionCacheMaxBytes,
    Duration requestIdRetention) {

  public static TopologySettings defaults() {
    return new TopologySettings(
        1024, Duration.ofMillis(10), Duration.ofHours(24), 1L << 30, Duration.ofDays(7));
  }
}
