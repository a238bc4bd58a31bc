package io.latentstream.ops.local;

import io.latentstream.ops.BackendOption;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream up}: broker, registry and service with the demo model, until Ctrl-C. */
@Command(
    name = "up",
    mixinStandardHelpOptions = true,
    description = {
      "Runs a local deployment (broker, schema registry, service) until Ctrl-C.",
      "A KRaft broker as a child JVM, the embedded schema registry and the latentstream service",
      "serving --model. State stays in --data-dir."
    })
public final class UpCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      defaultValue = "models/brown-mtp",
      description = "Checkpoint directory (default ${DEFAULT-VALUE}).")
  Path model;

  @Option(
      names = "--data-dir",
      defaultValue = "var/local",
      description = "Broker data and service state (default ${DEFAULT-VALUE}).")
  Path dataDirectory;

  @Option(
      names = "--kafka-port",
      defaultValue = "9092",
      description = "Broker client port (default ${DEFAULT-VALUE}).")
  int kafkaPort;

  @Option(
      names = "--http-port",
      defaultValue = "8080",
      description = "Service HTTP port (default ${DEFAULT-VALUE}).")
  int httpPort;

  @Option(
      names = "--registry-port",
      defaultValue = "8081",
      description = "Registry port (default ${DEFAULT-VALUE}).")
  int registryPort;

  @Option(
      names = "--partitions",
      defaultValue = "2",
      description = "Partitions of each topic (default ${DEFAULT-VALUE}).")
  int partitions;

  @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of the topic names.")
  String topicPrefix;

  @Mixin BackendOption backend = new BackendOption();

  @Override
  public Integer call() throws Exception {
    LocalStack stack =
        LocalStack.start(
            new LocalStack.Settings(
                dataDirectory,
                model,
                kafkaPort,
                httpPort,
                registryPort,
                partitions,
                topicPrefix,
                backend.name));
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stack.close();
                  stopped.countDown();
                },
                "latentstream-down"));
    var out = spec.commandLine().getOut();
    out.println("bootstrap servers:   " + stack.bootstrapServers());
    out.println("schema registry url: " + stack.registryUrl());
    out.println("service:             " + stack.serviceUrl() + " (health: /health)");
    out.println("console:             " + stack.serviceUrl() + "/console");
    out.println(
        "http credentials:    " + stack.credentials() + " (console, /sessions, /prometheus)");
    out.println("Ctrl-C stops everything.");
    out.flush();
    stopped.await();
    return 0;
  }
}
