package io.latentstream.ops.local;

import io.latentstream.registry.CompatibilityLevel;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream registry}: the embedded Schema Registry until Ctrl-C. */
@Command(
    name = "registry",
    mixinStandardHelpOptions = true,
    description = {
      "Serves the embedded Schema Registry (Confluent REST subset) until Ctrl-C.",
      "Schemas live in a compacted Kafka topic, so a restart keeps ids and subjects.",
      "One instance writes a schemas topic: starting another fences the first one's writes.",
      "Set LATENTSTREAM_REGISTRY_BASIC_AUTH=user:password to require HTTP basic auth."
    })
public final class RegistryCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  /** Credentials come from the environment, never from the command line (visible in ps). */
  static final String BASIC_AUTH_ENV = "LATENTSTREAM_REGISTRY_BASIC_AUTH";

  @Mixin KafkaClientOptions kafka;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "Address to listen on (default ${DEFAULT-VALUE}).")
  String host;

  @Option(
      names = "--port",
      defaultValue = "8081",
      description =
          "Port to listen on (default ${DEFAULT-VALUE}, Confluent's; 0 picks a free one).")
  int port;

  @Option(
      names = "--schemas-topic",
      defaultValue = EmbeddedRegistryConfig.DEFAULT_SCHEMAS_TOPIC,
      description = "Compacted topic holding the schemas (default ${DEFAULT-VALUE}).")
  String schemasTopic;

  @Option(
      names = "--compatibility",
      defaultValue = "BACKWARD",
      description =
          "Global compatibility level until changed by PUT /config: ${COMPLETION-CANDIDATES}.")
  CompatibilityLevel compatibility;

  @Override
  public Integer call() throws Exception {
    EmbeddedSchemaRegistry registry =
        new EmbeddedSchemaRegistry(
            new EmbeddedRegistryConfig(
                kafka.bootstrapServers(),
                host,
                port,
                schemasTopic,
                compatibility,
                kafka.clientProperties(),
                Duration.ofSeconds(30),
                Optional.ofNullable(System.getenv(BASIC_AUTH_ENV)),
                Optional.empty()));
    registry.start();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  registry.stop();
                  stopped.countDown();
                },
                "registry-stop"));
    var out = spec.commandLine().getOut();
    out.println("schema registry url: " + registry.url());
    out.println("Ctrl-C stops the registry.");
    out.flush();
    stopped.await();
    return 0;
  }
}
