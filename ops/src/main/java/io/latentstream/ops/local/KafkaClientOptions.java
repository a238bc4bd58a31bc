package io.latentstream.ops.local;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import picocli.CommandLine.Option;

/**
 * How a command reaches an existing cluster: bootstrap servers plus, for secured clusters, a
 * properties file of client settings (security.protocol, sasl.*, ssl.*) passed through unchanged to
 * every Kafka client, as Kafka's own tools do with {@code --command-config}.
 */
public final class KafkaClientOptions {
  @Option(
      names = "--bootstrap-servers",
      required = true,
      description = "Kafka bootstrap servers, e.g. 127.0.0.1:9092.")
  String bootstrapServers;

  @Option(
      names = "--command-config",
      description = "Properties file of Kafka client settings (security), passed through.")
  Path commandConfig;

  public String bootstrapServers() {
    return bootstrapServers;
  }

  /** The client settings from {@code --command-config}, without the bootstrap servers. */
  public Map<String, Object> clientProperties() throws IOException {
    Map<String, Object> properties = new HashMap<>();
    if (commandConfig != null) {
      Properties file = new Properties();
      try (InputStream in = Files.newInputStream(commandConfig)) {
        file.load(in);
      }
      file.forEach((key, value) -> properties.put(key.toString(), value));
    }
    return properties;
  }

  /** The client settings including the bootstrap servers. */
  public Map<String, Object> adminProperties() throws IOException {
    Map<String, Object> properties = clientProperties();
    properties.put("bootstrap.servers", bootstrapServers);
    return properties;
  }
}
