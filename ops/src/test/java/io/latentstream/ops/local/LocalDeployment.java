package io.latentstream.ops.local;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

/**
 * Test support: what the failover and scaling tests and benchmarks deploy the service on, a local
 * cluster of brokers (child JVMs) with an embedded schema registry on a free port and an admin
 * client; and, per deployment, its topics, its service instances and a reader of its outputs.
 */
final class LocalDeployment implements AutoCloseable {
  final LocalKafkaCluster cluster;
  final EmbeddedSchemaRegistry registry;
  final Admin admin;
  private final SchemaRegistryClient client;

  private LocalDeployment(LocalKafkaCluster cluster, EmbeddedSchemaRegistry registry) {
    this.cluster = cluster;
    this.registry = registry;
    this.admin = Admin.create(Map.of("bootstrap.servers", cluster.bootstrapServers()));
    this.client = new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
  }

  /** Starts {@code brokers} brokers, keeping their data under {@code directory}, and a registry. */
  static LocalDeployment start(int brokers, Path directory) throws Exception {
    LocalKafkaCluster cluster =
        new LocalKafkaCluster(LocalKafkaCluster.Config.of(brokers, directory)).start();
    try {
      return new LocalDeployment(
          cluster,
          new EmbeddedSchemaRegistry(
                  EmbeddedRegistryConfig.of(cluster.bootstrapServers()).withPort(0))
              .start());
    } catch (IOException | RuntimeException e) {
      cluster.stop(); // its brokers are child JVMs, which would outlive the test
      throw e;
    }
  }

  /** Creates the topics of a deployment under {@code prefix} and returns them. */
  Topics createTopics(String prefix, int partitions, short replication) throws Exception {
    admin
        .createTopics(Topics.newTopics(prefix, partitions, replication))
        .all()
        .get(30, TimeUnit.SECONDS);
    return Topics.create(prefix, client);
  }

  /**
   * Service instances of application {@code applicationId} serving {@code topics} with {@code
   * model}, each with its state and its log under {@code directory}.
   */
  ServiceProcesses services(Path directory, Topics topics, Path model, String applicationId) {
    return new ServiceProcesses(
        directory,
        cluster.bootstrapServers(),
        registry.url().toString(),
        topics,
        model,
        applicationId);
  }

  /** A read_committed reader of the tokens (both forms) and completions of {@code topics}. */
  EventReader observe(Topics topics) {
    return EventReader.committed(
        Map.of("bootstrap.servers", cluster.bootstrapServers()),
        topics.tokens(),
        topics.tokenChunks(),
        topics.completions());
  }

  /** Stops the registry and the brokers. */
  @Override
  public void close() {
    admin.close();
    registry.stop();
    cluster.stop();
  }
}
