package io.latentstream.testing;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.topology.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

/**
 * What a Micronaut test of the whole service needs before the context starts: the shared broker, an
 * embedded registry, the topics under the test's own prefix, and the properties that point the
 * service at them (from a {@code TestPropertyProvider}). Each test class gets its own name, so
 * classes share the broker but no topic, schema subject or application id.
 */
public final class ServiceUnderTest implements AutoCloseable {
  /** The HTTP credentials the services under test accept (console, sessions, metrics). */
  public static final String HTTP_USER = "operator";

  public static final String HTTP_PASSWORD = "test-" + Long.toHexString(System.nanoTime());

  private final EmbeddedSchemaRegistry registry;
  private final Topics topics;
  private final Map<String, String> properties;

  private ServiceUnderTest(
      EmbeddedSchemaRegistry registry, Topics topics, Map<String, String> properties) {
    this.registry = registry;
    this.topics = topics;
    this.properties = properties;
  }

  /** Starts the registry and creates the topics of a service named {@code name}. */
  public static ServiceUnderTest start(String name) {
    return start(name, Optional.empty());
  }

  /**
   * As {@link #start(String)}, with the registry served over HTTPS with {@code certificate}; the
   * service is configured with its trust store as an operator would ({@code
   * latentstream.schema-registry-ssl.*}), and so is the test's own registry client.
   */
  public static ServiceUnderTest startWithHttpsRegistry(String name, TestCertificates certificate) {
    return start(name, Optional.of(certificate));
  }

  private static ServiceUnderTest start(String name, Optional<TestCertificates> tls) {
    try {
      String bootstrap = SharedKafkaCluster.ensureStarted();
      EmbeddedRegistryConfig registryConfig =
          EmbeddedRegistryConfig.of(bootstrap).withSchemasTopic("_schemas-" + name);
      if (tls.isPresent()) {
        registryConfig = registryConfig.withTls(tls.get().serverContext());
      }
      EmbeddedSchemaRegistry registry = new EmbeddedSchemaRegistry(registryConfig).start();
      Map<String, String> properties = new HashMap<>();
      properties.put(
          "micronaut.server.port", "-1"); // a free port: the configured 8080 may be taken
      properties.put("kafka.bootstrap.servers", bootstrap);
      properties.put("kafka.streams.default.application.id", name);
      // Under the build directory: Streams warns of state in the OS temp directory, which the OS
      // may clear under a running task.
      Path states = Files.createDirectories(Path.of("target", "streams-state"));
      properties.put(
          "kafka.streams.default.state.dir",
          Files.createTempDirectory(states, name).toAbsolutePath().toString());
      properties.put("kafka.streams.default.replication.factor", "1");
      properties.put("latentstream.model-path", SharedModels.model("brown-mtp").toString());
      String prefix = name + ".";
      properties.put("latentstream.topic-prefix", prefix);
      properties.put("latentstream.schema-registry-url", registry.url().toString());
      properties.put("latentstream.http-credentials", HTTP_USER + ":" + HTTP_PASSWORD);
      Map<String, Object> clientProperties = new HashMap<>();
      clientProperties.put(RegistryClientConfig.URL, registry.url().toString());
      tls.ifPresent(
          certificate -> {
            String trustStore = certificate.trustStore().toString();
            properties.put("latentstream.schema-registry-ssl.truststore-location", trustStore);
            properties.put(
                "latentstream.schema-registry-ssl.truststore-password", certificate.password());
            clientProperties.put(RegistryClientConfig.SSL_TRUSTSTORE_LOCATION, trustStore);
            clientProperties.put(
                RegistryClientConfig.SSL_TRUSTSTORE_PASSWORD, certificate.password());
          });
      Topics topics =
          Topics.create(
              prefix,
              new SchemaRegistryClient(RegistryClientConfig.fromProperties(clientProperties)));
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
        admin.createTopics(Topics.newTopics(prefix, 1, (short) 1)).all().get(30, TimeUnit.SECONDS);
      }
      return new ServiceUnderTest(registry, topics, Map.copyOf(properties));
    } catch (Exception e) {
      throw new IllegalStateException("cannot start the test's broker and registry", e);
    }
  }

  public Map<String, String> properties() {
    return properties;
  }

  public Topics topics() {
    return topics;
  }

  @Override
  public void close() {
    registry.stop();
  }
}
