package io.latentstream.ops.pipeline;

import io.latentstream.ops.local.KafkaClientOptions;
import io.latentstream.registry.RegistryClientConfig;
import io.latentstream.registry.SchemaRegistryClient;
import io.latentstream.topology.Topics;
import java.io.IOException;
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

  /** The deployment's topics, with serdes speaking to its registry. */
  public Topics topics() {
    return Topics.create(
        topicPrefix, new SchemaRegistryClient(RegistryClientConfig.of(schemaRegistryUrl)));
  }

  /** Kafka client settings: bootstrap servers and the passed-through security settings. */
  public Map<String, Object> clientProperties() throws IOException {
    return kafka.adminProperties();
  }
}
