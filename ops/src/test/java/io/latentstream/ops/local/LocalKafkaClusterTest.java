package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The child-process broker end to end: start it, create the topics with the CLI, serve the registry
 * from it, move a record through it, survive a SIGKILL of the broker, stop cleanly.
 */
class LocalKafkaClusterTest {
  @TempDir Path dataDirectory;

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void aChildProcessBrokerCarriesTheRegistryAndRecordsAndSurvivesAKill() throws Exception {
    try (LocalKafkaCluster cluster =
        new LocalKafkaCluster(LocalKafkaCluster.Config.of(1, dataDirectory)).start()) {
      long brokerPid = cluster.pid(0);
      assertTrue(ProcessHandle.of(brokerPid).orElseThrow().isAlive());
      assertTrue(ProcessHandle.current().children().anyMatch(p -> p.pid() == brokerPid));

      var topicsRun =
          LatentstreamCliTestSupport.run(
              "topics",
              "--bootstrap-servers",
              cluster.bootstrapServers(),
              "--prefix",
              "it.",
              "--partitions",
              "2");
      assertEquals(0, topicsRun.exitCode(), topicsRun.err());
      assertTrue(
          topicsRun.out().contains("created it.tokens (2 partitions, replication 1)"),
          topicsRun.out());
      var again =
          LatentstreamCliTestSupport.run(
              "topics", "--bootstrap-servers", cluster.bootstrapServers(), "--prefix", "it.");
      assertEquals(0, again.exitCode(), again.err());
      assertTrue(again.out().contains("exists  it.tokens"), again.out());

      int tokenEventId;
      TokenEvent sent = tokenEvent();
      try (EmbeddedSchemaRegistry registry = startRegistry(cluster)) {
        SchemaRegistryClient client =
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
        Topics topics = Topics.create("it.", client);
        produce(cluster, topics, sent);
        assertEquals(List.of(sent), consume(cluster, topics, 1));
        tokenEventId = client.latestVersion(topics.tokens().name() + "-value").id();
      }

      // A crash of the broker loses nothing acknowledged: the registry replays its topic.
      cluster.kill(0);
      assertFalse(cluster.isRunning(0));
      cluster.restart(0);
      try (EmbeddedSchemaRegistry registry = startRegistry(cluster)) {
        SchemaRegistryClient client =
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
        assertEquals(TokenEvent.getClassSchema(), client.schemaById(tokenEventId));
        assertEquals(List.of(sent), consume(cluster, Topics.create("it.", client), 1));
      }

      long restartedPid = cluster.pid(0);
      cluster.stop();
      assertFalse(ProcessHandle.of(restartedPid).map(ProcessHandle::isAlive).orElse(false));
    }
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aBrokerDoesNotOutliveAKilledLatentstreamBrokerCommand() throws Exception {
    Process cli =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "io.latentstream.ops.LatentstreamCli",
                "broker",
                "--data-dir",
                dataDirectory.toString())
            .redirectErrorStream(true)
            .start();
    try {
      var lines =
          new java.io.BufferedReader(
              new java.io.InputStreamReader(
                  cli.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
      String line;
      while ((line = lines.readLine()) != null && !line.startsWith("bootstrap servers:")) {
        // start-up messages
      }
      assertTrue(line != null, "the broker command ended without printing its bootstrap servers");
      ProcessHandle broker = cli.toHandle().children().findFirst().orElseThrow();
      assertTrue(broker.isAlive());

      cli.destroyForcibly(); // SIGKILL: no shutdown hook runs in the command's JVM
      broker.onExit().get(60, TimeUnit.SECONDS);
      assertFalse(broker.isAlive());
    } finally {
      cli.destroyForcibly();
      cli.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
    }
  }

  private static EmbeddedSchemaRegistry startRegistry(LocalKafkaCluster cluster)
      throws java.io.IOException {
    return new EmbeddedSchemaRegistry(EmbeddedRegistryConfig.of(cluster.bootstrapServers()))
        .start();
  }

  private static TokenEvent tokenEvent() {
    return TokenEvent.newBuilder()
        .setRequestId("req-1")
        .setIndex(0)
        .setTokenId(478)
        .setTextDelta(" jury")
        .setFinishReason(FinishReason.STOP)
        .setModelId("brown-mtp")
        .setWeightsDigest("sha256:test")
        .setProducedAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }

  private static void produce(LocalKafkaCluster cluster, Topics topics, TokenEvent event) {
    try (KafkaProducer<String, TokenEvent> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers()),
            topics.tokens().keySerde().serializer(),
            topics.tokens().valueSerde().serializer())) {
      producer.send(new ProducerRecord<>(topics.tokens().name(), event.getRequestId(), event));
    }
  }

  private static List<TokenEvent> consume(LocalKafkaCluster cluster, Topics topics, int count) {
    try (EventReader reader =
        EventReader.committed(
            Map.of("bootstrap.servers", cluster.bootstrapServers()), topics.tokens())) {
      return reader.readAtLeast(topics.tokens(), count, Duration.ofSeconds(30));
    }
  }
}
