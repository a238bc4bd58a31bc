package io.latentstream.ops.pipeline;

import io.latentstream.ops.local.KafkaClientOptions;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Where a command finds a deployment: its cluster, its registry and its topic prefix. */
public final class PipelineOptions {
  @Mixin KafkaClientOptions kafka;

  @Option(
      names = "--schema-registry-url",
      defaultValue = "http://127.0.0.1:8081",
      description = "Schema Registry URL(s), comma-separated (default ${DEFAULT-VALUE}).")
  String schemaRegistryUrl;

  @Option(
      names = "--topic-prefix",
      defaultValue = "",
      description = "Prefix of the deployment's topic names (default none).")
  String topicPrefix;

  @Option(
      names = "--tenant-topics",
      paramLabel = "TENANT",
      description =
          "The tenant's own topics (<prefix><TENANT>.prompts, ...), where the deployment gives"
              + " tenants topics of their own (latentstream.tenants).")
  String tenantTopics;

  /**
   * The deployment's topics (a tenant's own, with {@code --tenant-topics}), with serdes speaking to
   * its registry. The registry client takes its security settings ({@code basic.auth.user.info},
   * {@code schema.registry.ssl.*}) from the same {@code --command-config} file as the Kafka
   * clients, as Confluent's serializers do.
   */
  public Topics topics() throws IOException {
    Map<String, Object> registry = new HashMap<>(kafka.clientProperties());
    registry.put(RegistryClientConfig.URL, schemaRegistryUrl);
    Topics topics =
        Topics.create(
            topicPrefix, new SchemaRegistryClient(RegistryClientConfig.fromProperties(registry)));
    return tenantTopics == null ? topics : topics.tenant(tenantTopics);
  }

  /** Kafka client settings: bootstrap servers and the passed-through security settings. */
  public Map<String, Object> clientProperties() throws IOException {
    return kafka.adminProperties();
  }
}
