package io.latentstream.ops.local;

import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.service.Application;
import io.latentstream.topology.Topics;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.Micronaut;
import io.micronaut.runtime.server.EmbeddedServer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * The embedded default deployment on one machine: a KRaft broker (child JVM), the embedded schema
 * registry, the topics, and the latentstream service (Micronaut, in this JVM).
 */
public final class LocalStack implements AutoCloseable {
  private final LocalKafkaCluster kafka;
  private final EmbeddedSchemaRegistry registry;
  private final ApplicationContext service;
  private final String topicPrefix;
  private final String httpCredentials;

  /**
   * @param dataDirectory broker data, Streams state (a restart keeps topics and sessions)
   * @param kafkaPort the broker's client port; 0 picks a free one
   * @param httpPort the service's HTTP port; 0 picks a free one
   * @param registryPort the registry's port; 0 picks a free one
   * @param backend the service's {@code latentstream.backend}: cpu, cuda or auto
   */
  public record Settings(
      Path dataDirectory,
      Path modelPath,
      int kafkaPort,
      int httpPort,
      int registryPort,
      int partitions,
      String topicPrefix,
      String backend) {}

  private LocalStack(
      LocalKafkaCluster kafka,
      EmbeddedSchemaRegistry registry,
      ApplicationContext service,
      String topicPrefix,
      String httpCredentials) {
    this.kafka = kafka;
    this.registry = registry;
    this.service = service;
    this.topicPrefix = topicPrefix;
    this.httpCredentials = httpCredentials;
  }

  /**
   * The HTTP credentials to run a service with: LATENTSTREAM_HTTP_CREDENTIALS when set, else a
   * fresh {@code latentstream:<random>} for this run (printed by the commands that start one).
   */
  static String httpCredentials() {
    String given = System.getenv("LATENTSTREAM_HTTP_CREDENTIALS");
    if (given != null && !given.isBlank()) {
      return given;
    }
    byte[] random = new byte[18];
    new java.security.SecureRandom().nextBytes(random);
    return "latentstream:"
        + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(random);
  }

  public static LocalStack start(Settings settings) throws IOException, InterruptedException {
    LocalKafkaCluster kafka =
        new LocalKafkaCluster(
                LocalKafkaCluster.Config.of(1, settings.dataDirectory().resolve("kafka")))
            .start();
    EmbeddedSchemaRegistry registry = null;
    try {
      registry =
          new EmbeddedSchemaRegistry(
                  EmbeddedRegistryConfig.of(kafka.bootstrapServers())
                      .withPort(settings.registryPort()))
              .start();
      createTopics(kafka.bootstrapServers(), settings);
      String credentials = httpCredentials();
      ApplicationContext service =
          Micronaut.build(new String[0])
              .banner(false)
              .mainClass(Application.class)
              .properties(
                  Map.of(
                      "micronaut.server.port", settings.httpPort() == 0 ? -1 : settings.httpPort(),
                      "kafka.bootstrap.servers", kafka.bootstrapServers(),
                      "kafka.streams.default.state.dir",
                          settings.dataDirectory().resolve("streams").toString(),
                      "kafka.streams.default.replication.factor", 1,
                      "latentstream.model-path", settings.modelPath().toString(),
                      "latentstream.backend", settings.backend(),
                      "latentstream.topic-prefix", settings.topicPrefix(),
                      "latentstream.schema-registry-url", registry.url().toString(),
                      "latentstream.http-credentials", credentials))
              .start();
      return new LocalStack(kafka, registry, service, settings.topicPrefix(), credentials);
    } catch (RuntimeException | IOException e) {
      if (registry != null) {
        registry.stop();
      }
      kafka.stop();
      throw e;
    }
  }

  private static void createTopics(String bootstrapServers, Settings settings) throws IOException {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrapServers))) {
      for (var topic : Topics.newTopics(settings.topicPrefix(), settings.partitions(), (short) 1)) {
        try {
          admin.createTopics(java.util.List.of(topic)).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IOException("cannot create topic " + topic.name(), e.getCause());
          }
        } catch (Exception e) {
          throw new IOException("cannot create topic " + topic.name(), e);
        }
      }
    }
  }

  public String bootstrapServers() {
    return kafka.bootstrapServers();
  }

  public String registryUrl() {
    return registry.url().toString();
  }

  public String serviceUrl() {
    return service.getBean(EmbeddedServer.class).getURL().toString();
  }

  public String topicPrefix() {
    return topicPrefix;
  }

  /** user:password for the service's console, /sessions, /prometheus and health details. */
  public String credentials() {
    return httpCredentials;
  }

  @Override
  public void close() {
    service.close();
    registry.stop();
    kafka.stop();
  }
}
