package io.latentstream.ops.local;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream broker}: a local KRaft Kafka cluster until Ctrl-C. */
@Command(
    name = "broker",
    mixinStandardHelpOptions = true,
    description = {
      "Runs Apache Kafka (KRaft, no Docker) on loopback as child processes until Ctrl-C.",
      "Prints the bootstrap servers; data stays in --data-dir, so a restart keeps the topics."
    })
public final class BrokerCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--nodes",
      defaultValue = "1",
      description = "Broker+controller nodes (default ${DEFAULT-VALUE}).")
  int nodes;

  @Option(
      names = "--data-dir",
      description =
          "Where the nodes keep their data and logs (default: a new temporary directory).")
  Path dataDirectory;

  @Option(
      names = "--port",
      defaultValue = "0",
      description = "Client port of node 0 (node i gets port + i); 0 picks free ports.")
  int port;

  @Override
  public Integer call() throws Exception {
    Path directory =
        dataDirectory != null ? dataDirectory : Files.createTempDirectory("latentstream-kafka-");
    LocalKafkaCluster cluster =
        new LocalKafkaCluster(
            LocalKafkaCluster.Config.of(nodes, directory).withFirstBrokerPort(port));
    cluster.start();
    var out = spec.commandLine().getOut();
    out.println("bootstrap servers: " + cluster.bootstrapServers());
    out.println("data directory:    " + directory.toAbsolutePath());
    out.println("Ctrl-C stops the broker.");
    out.flush();
    // The cluster's shutdown hook stops the nodes on Ctrl-C; until then, watch for a dead node.
    while (true) {
      for (int id = 0; id < cluster.size(); id++) {
        if (!cluster.isRunning(id)) {
          spec.commandLine().getErr().println("Kafka node " + id + " exited; see " + directory);
          cluster.stop();
          return 1;
        }
      }
      Thread.sleep(1_000);
    }
  }
}
