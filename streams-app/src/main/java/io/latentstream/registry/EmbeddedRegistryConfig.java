package io.latentstream.registry;

import java.time.Duration;
import java.util.Map;

/**
 * Settings of the {@link EmbeddedSchemaRegistry}.
 *
 * @param bootstrapServers the Kafka cluster holding the schemas topic
 * @param host the address to listen on (loopback by default: the registry has no authentication)
 * @param port the port to listen on; 0 picks a free one
 * @param schemasTopic the compacted topic that stores every schema and config change
 * @param defaultCompatibility the global level, until a {@code PUT /config} changes it
 * @param kafkaClientProperties passed to the registry's producer, consumer and admin client
 *     (security settings)
 * @param kafkaTimeout the most a start-up step or a write to the schemas topic may take
 */
public record EmbeddedRegistryConfig(
    String bootstrapServers,
    String host,
    int port,
    String schemasTopic,
    CompatibilityLevel defaultCompatibility,
    Map<String, Object> kafkaClientProperties,
    Duration kafkaTimeout) {

  public static final String DEFAULT_SCHEMAS_TOPIC = "_schemas";

  public EmbeddedRegistryConfig {
    kafkaClientProperties = Map.copyOf(kafkaClientProperties);
  }

  /** Loopback, a free port, {@code _schemas}, BACKWARD, 30 s Kafka timeout. */
  public static EmbeddedRegistryConfig of(String bootstrapServers) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        "127.0.0.1",
        0,
        DEFAULT_SCHEMAS_TOPIC,
        CompatibilityLevel.BACKWARD,
        Map.of(),
        Duration.ofSeconds(30));
  }

  public EmbeddedRegistryConfig withPort(int newPort) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        newPort,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout);
  }

  public EmbeddedRegistryConfig withHost(String newHost) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        newHost,
        port,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout);
  }

  public EmbeddedRegistryConfig withSchemasTopic(String topic) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        topic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout);
  }

  public EmbeddedRegistryConfig withKafkaClientProperties(Map<String, Object> properties) {
    return new EmbeddedRegistryConfig(
        bootstrapServers, host, port, schemasTopic, defaultCompatibility, properties, kafkaTimeout);
  }
}
