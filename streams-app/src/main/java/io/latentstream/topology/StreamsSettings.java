package io.latentstream.topology;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Kafka Streams settings for running the topology outside Micronaut (benchmarks, replays of the
 * deployment in tests), with the latency settings the service's application.yml also uses.
 */
public final class StreamsSettings {
  private StreamsSettings() {}

  /**
   * One application instance: the given guarantee, internal topics with {@code replication}
   * replicas, and a poll interval equal to the default emit interval. The stream thread then wakes
   * once per emit interval, every task's emitting punctuation has come due in the meantime, and all
   * of them forward in the same loop iteration: one produce request per interval carries every
   * task's tokens. A shorter poll only adds loop iterations (~0.3 ms of CPU each here) and splits
   * the tasks' tokens over more requests.
   *
   * <p>Under exactly-once, tokens become visible when their transaction commits, every 100 ms: the
   * producer may batch for 25 ms at no visible cost. Under at-least-once a token is visible once
   * sent; the producer lingers 2 ms, long enough to gather one punctuation's sends into one
   * request, and commits keep Streams' 30 s default: each commit flushes the stores and writes
   * their checkpoints, and a crash only repeats tokens, which at-least-once allows. Batches are
   * lz4-compressed, as the service's application.yml sets: a token event's repeated fields (model
   * id, weights digest) compress 5x, and the broker's CPU per token halves.
   */
  public static Properties of(
      String applicationId,
      String bootstrapServers,
      String guarantee,
      Path stateDirectory,
      int replication) {
    return of(
        applicationId,
        bootstrapServers,
        guarantee,
        stateDirectory,
        replication,
        TopologySettings.defaults().emitInterval());
  }

  /** The same, for a topology that emits every {@code emitInterval} instead of the default. */
  public static Properties of(
      String applicationId,
      String bootstrapServers,
      String guarantee,
      Path stateDirectory,
      int replication,
      Duration emitInterval) {
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    config.put(StreamsConfig.STATE_DIR_CONFIG, stateDirectory.toString());
    boolean exactlyOnce = StreamsConfig.EXACTLY_ONCE_V2.equals(guarantee);
    if (exactlyOnce) {
      config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    }
    config.put(StreamsConfig.POLL_MS_CONFIG, emitInterval.toMillis());
    config.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, replication);
    config.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), exactlyOnce ? 25 : 2);
    config.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
    // Failover in seconds (application.yml says why): the group notices a dead instance in 6 s,
    // and its open transaction is aborted 5 s after it began.
    config.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
    config.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1500);
    if (exactlyOnce) {
      config.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 5000);
    }
    errorHandlers().forEach(config::put);
    return config;
  }

  /**
   * The exception handlers every deployment of the topology uses (application.yml names the same):
   * no record can stop a stream thread.
   */
  public static java.util.Map<String, String> errorHandlers() {
    return java.util.Map.of(
        StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG,
        ProcessingErrorHandler.class.getName(),
        StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG,
        ProductionErrorHandler.class.getName());
  }
}
