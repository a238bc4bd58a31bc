package io.latentstream.ops.local;

import io.latentstream.ops.BackendOption;
import io.latentstream.service.Application;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.Micronaut;
import io.micronaut.runtime.server.EmbeddedServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code latentstream serve}: runs one instance of the latentstream service (Micronaut, the
 * topology) against an existing cluster and registry until it is stopped. Several instances with
 * the same application id share the partitions of {@code prompts}; this is how tests start service
 * instances as child processes to kill.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Runs one service instance against an existing cluster and registry, until stopped.",
      "Prints 'running' once its Kafka Streams instance is RUNNING."
    })
public final class ServeCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--bootstrap-servers", required = true, description = "Kafka bootstrap servers.")
  String bootstrapServers;

  @Option(
      names = "--schema-registry-url",
      defaultValue = "http://127.0.0.1:8081",
      description = "Schema Registry URL (default ${DEFAULT-VALUE}).")
  String schemaRegistryUrl;

  @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of the topic names.")
  String topicPrefix;

  @Option(
      names = "--model",
      defaultValue = "models/brown-mtp",
      description = "Checkpoint directory (default ${DEFAULT-VALUE}).")
  Path model;

  @Mixin BackendOption backend = new BackendOption();

  @Option(
      names = "--application-id",
      defaultValue = "latentstream",
      description = "Kafka Streams application id; instances sharing it share the work.")
  String applicationId;

  @Option(
      names = "--state-dir",
      defaultValue = "var/streams",
      description = "Kafka Streams state directory (default ${DEFAULT-VALUE}).")
  Path stateDirectory;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      description = "HTTP port; 0 picks a free one (default ${DEFAULT-VALUE}).")
  int httpPort;

  @Option(
      names = {"-p", "--property"},
      description =
          "Any other service property, key=value (repeatable), e.g. latentstream.max-running=4.")
  Map<String, String> properties = new HashMap<>();

  @Override
  public Integer call() throws Exception {
    Map<String, Object> config = new HashMap<>();
    config.put("micronaut.server.port", httpPort == 0 ? -1 : httpPort);
    config.put("kafka.bootstrap.servers", bootstrapServers);
    config.put("kafka.streams.default.application.id", applicationId);
    config.put("kafka.streams.default.state.dir", stateDirectory.toString());
    config.put("latentstream.model-path", model.toString());
    config.put("latentstream.backend", backend.name);
    config.put("latentstream.topic-prefix", topicPrefix);
    config.put("latentstream.schema-registry-url", schemaRegistryUrl);
    config.putAll(properties);
    boolean generated = !config.containsKey("latentstream.http-credentials");
    if (generated) {
      config.put("latentstream.http-credentials", LocalStack.httpCredentials());
    }
    ApplicationContext service =
        Micronaut.build(new String[0])
            .banner(false)
            .mainClass(Application.class)
            .properties(config)
            .start();
    CountDownLatch stopped = new CountDownLatch(1);
    EmbeddedServer server = service.getBean(EmbeddedServer.class);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  // Micronaut's own shutdown hook stops the server, which stops the context. Stop
                  // in that order here too: closing the context first takes the two locks in the
                  // opposite order, and on SIGTERM the two hooks deadlocked.
                  server.stop();
                  if (service.isRunning()) {
                    service.close();
                  }
                  stopped.countDown();
                },
                "latentstream-serve-stop"));
    KafkaStreams streams = service.getBean(KafkaStreams.class);
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      KafkaStreams.State state = streams.state();
      if (state != KafkaStreams.State.CREATED && !state.isRunningOrRebalancing()
          || System.nanoTime() > deadline) {
        spec.commandLine()
            .getErr()
            .println("latentstream serve: Kafka Streams is " + streams.state());
        return 1;
      }
      Thread.sleep(50);
    }
    var out = spec.commandLine().getOut();
    if (generated && System.getenv("LATENTSTREAM_HTTP_CREDENTIALS") == null) {
      out.println("http credentials: " + config.get("latentstream.http-credentials"));
    }
    out.println("running " + applicationId + " on " + server.getURL());
    out.flush();
    stopped.await();
    return 0;
  }
}
