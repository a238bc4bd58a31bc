package io.latentstream.topology;

import java.nio.file.Path;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Kafka Streams settings for running the topology outside Micronaut (benchmarks, replays of the
 * deployment in tests), with the latency settings the service's application.yml also uses.
 */
public final class StreamsSettings {
  private StreamsSettings() {}

  /**
   * One application instance: the given guarantee, a 10 ms poll so the emitting punctuation runs on
   * time, and internal topics with {@code replication} replicas. Under exactly-once, tokens become
   * visible when their transaction commits, every 100 ms: the producer may batch for 25 ms at no
   * visible cost, which saves the broker work per token. Under at-least-once a token is visible
   * once sent, so it is sent within 5 ms, and commits keep Streams' 30 s default: each commit
   * flushes the stores and writes their checkpoints, and a crash only repeats tokens, which
   * at-least-once allows.
   */
  public static Properties of(
      String applicationId,
      String bootstrapServers,
      String guarantee,
      Path stateDirectory,
      int replication) {
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    config.put(StreamsConfig.STATE_DIR_CONFIG, stateDirectory.toString());
    boolean exactlyOnce = StreamsConfig.EXACTLY_ONCE_V2.equals(guarantee);
    if (exactlyOnce) {
      config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    }
    config.put(StreamsConfig.POLL_MS_CONFIG, 10);
    config.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, replication);
    config.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), exactlyOnce ? 25 : 5);
    return config;
  }
}
