package io.latentstream.testing;

import io.latentstream.registry.EmbeddedRegistryConfig;
import io.latentstream.registry.EmbeddedSchemaRegistry;
import io.latentstream.registry.RegistryClientConfig;
import io.latentstream.registry.SchemaRegistryClient;
import io.latentstream.topology.Topics;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

/**
 * What a Micronaut test of the whole service needs before the context starts: the shared broker, an
 * embedded registry, the topics under the test's own prefix, and the properties that point the
 * service at them (from a {@code TestPropertyProvider}). Each test class gets its own name, so
 * classes share the broker but no topic, schema subject or application id.
 */
public final class ServiceUnderTest implements AutoCloseable {
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
    try {
      String bootstrap = SharedKafkaCluster.ensureStarted();
      EmbeddedSchemaRegistry registry =
          new EmbeddedSchemaRegistry(
                  EmbeddedRegistryConfig.of(bootstrap).withSchemasTopic("_schemas-" + name))
              .start();
      String prefix = name + ".";
      Topics topics =
          Topics.create(
              prefix, new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
        admin.createTopics(Topics.newTopics(prefix, 1, (short) 1)).all().get(30, TimeUnit.SECONDS);
      }
      Map<String, String> properties =
          Map.of(
              "micronaut.server.port",
              "-1", // a free port: the configured 8080 may be taken
              "kafka.bootstrap.servers",
              bootstrap,
              "kafka.streams.default.application.id",
              name,
              "kafka.streams.default.state.dir",
              Files.createTempDirectory(name).toString(),
              "kafka.streams.default.replication.factor",
              "1",
              "latentstream.model-path",
              SharedModels.model("brown-mtp").toString(),
              "latentstream.topic-prefix",
              prefix,
              "latentstream.schema-registry-url",
              registry.url().toString());
      return new ServiceUnderTest(registry, topics, properties);
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
