package io.latentstream.topology;

import io.latentstream.schemas.TokenEventForm;
import java.time.Duration;

/**
 * The knobs of the generation topology.
 *
 * @param limits what one prompt may hold
 * @param emitInterval how often finished tokens are forwarded (a wall-clock punctuation); Kafka
 *     Streams' poll interval should equal it (see {@link StreamsSettings})
 * @param sessionTtl sessions unused this long are evicted with their caches
 * @param sessionCacheMaxBytes the latent caches of one task's sessions take at most this much;
 *     least recently used sessions go first
 * @param requestIdRetention how long completed request ids are remembered to refuse duplicates
 * @param maxWaiting requests the instance's generation loop may hold beyond max-running, waiting to
 *     run; the rest of a backlog waits in the in-flight store (a few dozen bytes of memory each)
 *     and in Kafka
 * @param maxOutputRecordBytes the most bytes one output event may take: at most the producer's
 *     {@code max.request.size} and the output topics' {@code max.message.bytes} (their defaults are
 *     1,048,576 and 1,048,588); events are bounded to it by construction (see {@link
 *     LatentstreamTopology#build})
 * @param tokenEvents the form of token events of requests that do not choose one (their prompt's
 *     {@code token_events}): {@code TOKEN}, one event per token on {@code tokens}; {@code CHUNK},
 *     one per request per emit interval on {@code token-chunks}
 */
public record TopologySettings(
    PromptLimits limits,
    Duration emitInterval,
    Duration sessionTtl,
    long sessionCacheMaxBytes,
    Duration requestIdRetention,
    int maxWaiting,
    int maxOutputRecordBytes,
    TokenEventForm tokenEvents) {

  /**
   * How often the stores are scanned for expired sessions, caches over the bound and expired
   * request ids: a tenth of the shorter lifetime, so an entry outlives it by at most 10%, but
   * between 100 ms and one minute (a scan reads the whole store).
   */
  public Duration evictionInterval() {
    Duration tenth =
        (sessionTtl.compareTo(requestIdRetention) < 0 ? sessionTtl : requestIdRetention)
            .dividedBy(10);
    Duration min = Duration.ofMillis(100);
    Duration max = Duration.ofMinutes(1);
    return tenth.compareTo(min) < 0 ? min : tenth.compareTo(max) > 0 ? max : tenth;
  }

  public TopologySettings withEmitInterval(Duration interval) {
    return new TopologySettings(
        limits,
        interval,
        sessionTtl,
        sessionCacheMaxBytes,
        requestIdRetention,
        maxWaiting,
        maxOutputRecordBytes,
        tokenEvents);
  }

  public static TopologySettings defaults() {
    return new TopologySettings(
        PromptLimits.defaults(),
        Duration.ofMillis(20),
        Duration.ofHours(24),
        1L << 30,
        Duration.ofDays(7),
        32,
        1_000_000,
        TokenEventForm.TOKEN);
  }
}
