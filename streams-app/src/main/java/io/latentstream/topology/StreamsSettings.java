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
   * One application instance: the given guarantee, commits every 100 ms (the exactly-once latency),
   * a 10 ms poll so the emitting punctuation runs on time, tokens sent without Streams' 100 ms
   * linger, and internal topics with {@code replication} replicas.
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
    config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    config.put(StreamsConfig.POLL_MS_CONFIG, 10);
    config.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, replication);
    config.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
    return config;
  }
}
