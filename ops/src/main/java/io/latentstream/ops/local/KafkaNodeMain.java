package io.latentstream.ops.local;

import java.io.IOException;

/**
 * The main class of a {@link LocalKafkaCluster} node: Kafka's own {@code kafka.Kafka}, plus a
 * watchdog that exits (running Kafka's shutdown hook) when the parent process goes away. The parent
 * holds the write end of the node's standard input, so its death, even by SIGKILL or a test
 * timeout, closes the pipe: no orphaned broker keeps the machine's two cores and its ports.
 */
public final class KafkaNodeMain {
  private KafkaNodeMain() {}

  public static void main(String[] args) {
    Thread watchdog =
        new Thread(
            () -> {
              try {
                while (System.in.read() != -1) {
                  // the parent never writes; read only to notice the end of the stream
                }
              } catch (IOException closed) {
                // same as end of stream
              }
              System.err.println("latentstream: parent process gone; stopping this Kafka node");
              System.exit(0);
            },
            "parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    kafka.Kafka.main(args);
  }
}
