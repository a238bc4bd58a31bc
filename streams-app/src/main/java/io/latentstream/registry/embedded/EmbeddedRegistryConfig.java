package io.latentstream.registry.embedded;

import io.latentstream.registry.CompatibilityLevel;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLContext;

/**
 * Settings of the {@link EmbeddedSchemaRegistry}.
 *
 * @param bootstrapServers the Kafka cluster holding the schemas topic
 * @param host the address to listen on (loopback by default)
 * @param port the port to listen on; 0 picks a free one
 * @param schemasTopic the compacted topic that stores every schema and config change
 * @param defaultCompatibility the global level, until a {@code PUT /config} changes it
 * @param kafkaClientProperties passed to the registry's producer, consumer and admin client
 *     (security settings)
 * @param kafkaTimeout the most a start-up step or a write to the schemas topic may take
 * @param basicAuthUserInfo {@code user:password} that every request must present with HTTP basic
 *     auth; empty serves without authentication
 * @param tls serve HTTPS with this context (its key manager holds the server certificate),
 *     requiring a client certificate its trust manager accepts when {@link
 *     Tls#requireClientCertificate()}; empty serves plain HTTP
 */
public record EmbeddedRegistryConfig(
    String bootstrapServers,
    String host,
    int port,
    String schemasTopic,
    CompatibilityLevel defaultCompatibility,
    Map<String, Object> kafkaClientProperties,
    Duration kafkaTimeout,
    Optional<String> basicAuthUserInfo,
    Optional<EmbeddedRegistryConfig.Tls> tls) {

  public static final String DEFAULT_SCHEMAS_TOPIC = "_schemas";

  /** HTTPS settings: the server's TLS context, and whether clients must present a certificate. */
  public record Tls(SSLContext context, boolean requireClientCertificate) {}

  public EmbeddedRegistryConfig {
    kafkaClientProperties = Map.copyOf(kafkaClientProperties);
  }

  /** Loopback, a free port, {@code _schemas}, BACKWARD, 30 s Kafka timeout, plain HTTP, no auth. */
  public static EmbeddedRegistryConfig of(String bootstrapServers) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        "127.0.0.1",
        0,
        DEFAULT_SCHEMAS_TOPIC,
        CompatibilityLevel.BACKWARD,
        Map.of(),
        Duration.ofSeconds(30),
        Optional.empty(),
        Optional.empty());
  }

  public EmbeddedRegistryConfig withPort(int newPort) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        newPort,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout,
        basicAuthUserInfo,
        tls);
  }

  public EmbeddedRegistryConfig withHost(String newHost) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        newHost,
        port,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout,
        basicAuthUserInfo,
        tls);
  }

  public EmbeddedRegistryConfig withSchemasTopic(String topic) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        topic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout,
        basicAuthUserInfo,
        tls);
  }

  public EmbeddedRegistryConfig withDefaultCompatibility(CompatibilityLevel level) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        schemasTopic,
        level,
        kafkaClientProperties,
        kafkaTimeout,
        basicAuthUserInfo,
        tls);
  }

  public EmbeddedRegistryConfig withKafkaClientProperties(Map<String, Object> properties) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        schemasTopic,
        defaultCompatibility,
        properties,
        kafkaTimeout,
        basicAuthUserInfo,
        tls);
  }

  public EmbeddedRegistryConfig withBasicAuth(String userInfo) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout,
        Optional.of(userInfo),
        tls);
  }

  /** Serves HTTPS with {@code context}; any client may connect. */
  public EmbeddedRegistryConfig withTls(SSLContext context) {
    return withTls(new Tls(context, false));
  }

  /** Serves HTTPS, and with {@code tls.requireClientCertificate()} mutual TLS. */
  public EmbeddedRegistryConfig withTls(Tls tls) {
    return new EmbeddedRegistryConfig(
        bootstrapServers,
        host,
        port,
        schemasTopic,
        defaultCompatibility,
        kafkaClientProperties,
        kafkaTimeout,
        basicAuthUserInfo,
        Optional.of(tls));
  }

  /** Never prints the credentials. */
  @Override
  public String toString() {
    return "EmbeddedRegistryConfig[bootstrapServers="
        + bootstrapServers
        + ", listen="
        + host
        + ":"
        + port
        + ", schemasTopic="
        + schemasTopic
        + ", defaultCompatibility="
        + defaultCompatibility
        + ", basicAuth="
        + basicAuthUserInfo.isPresent()
        + ", tls="
        + tls.isPresent()
        + "]";
  }
}
