package io.latentstream.ops.local;

import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Failover time with the service's shipped settings: two {@code latentstream serve} instances
 * (child JVMs) share {@code prompts} (4 partitions) on one broker ({@link LocalKafkaCluster}); once
 * generations are under way on both, one is killed with SIGKILL, and the clock runs until a
 * read_committed consumer sees the next token of a request the killed instance was generating, now
 * produced by the survivor. Also timed: when the survivor owns every partition (the group noticed).
 * Each run uses fresh topics and a fresh application id; the median and the worst are printed.
 *
 * <p>Usage: {@code ops/bench-failover [RUNS]} (default 5).
 */
public final class FailoverBenchmark {
  private static final int PARTITIONS = 4;
  private static final int PROMPTS = 16;

  private FailoverBenchmark() {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    Path model = Path.of("models/brown-mtp").toAbsolutePath();
    Path data = Files.createTempDirectory("latentstream-bench-failover-");
    List<double[]> results = new ArrayList<>();
    try (LocalDeployment deployment = LocalDeployment.start(1, data.resolve("kafka"))) {
      for (int run = 1; run <= runs; run++) {
        double[] r = measure(deployment, data, model, run);
        results.add(r);
        System.out.printf(
            Locale.ROOT,
            "run %d: partitions moved after %.2f s, next token of an interrupted request after"
                + " %.2f s%n",
            run,
            r[0],
            r[1]);
      }
    }
    double[] moved = results.stream().mapToDouble(r -> r[0]).sorted().toArray();
    double[] token = results.stream().mapToDouble(r -> r[1]).sorted().toArray();
    System.out.printf(
        Locale.ROOT,
        "%d runs: partitions moved median %.2f s (max %.2f); next token median %.2f s (max %.2f)%n",
        runs,
        moved[moved.length / 2],
        moved[moved.length - 1],
        token[token.length / 2],
        token[token.length - 1]);
  }

  /** One run; returns {seconds until the survivor owns every partition, until its first token}. */
  private static double[] measure(LocalDeployment deployment, Path data, Path model, int run)
      throws Exception {
    String prefix = "fb" + run + ".";
    Topics topics = deployment.createTopics(prefix, PARTITIONS, (short) 1);
    Path directory = Files.createDirectories(data.resolve("run-" + run));
    try (ServiceProcesses services =
            deployment.services(directory, topics, model, "bench-failover-" + run);
        EventReader observed = deployment.observe(topics)) {
      // The shipped settings, but few requests at a time: generations are under way at the kill.
      Map<String, String> settings =
          Map.of("latentstream.max-running", "4", "kafka.streams.default.replication.factor", "1");
      Process a = services.start("instance-a", List.of(), settings);
      services.start("instance-b", List.of(), settings);
      services.awaitRunning("instance-a");
      services.awaitRunning("instance-b");
      Set<Integer> ofA = awaitShared(services, deployment.admin, "instance-a");
      Map<String, Integer> partitionOf = publish(deployment.cluster, topics);
      List<String> requestsOfA =
          partitionOf.entrySet().stream()
              .filter(e -> ofA.contains(e.getValue()))
              .map(Map.Entry::getKey)
              .toList();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (requestsOfA.stream()
          .noneMatch(id -> observed.tokenCount(id) >= 3 && !observed.completed(id))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("no generation of instance-a under way");
        }
        observed.poll();
      }
      Map<String, Integer> before = new HashMap<>();
      for (String id : requestsOfA) {
        if (!observed.completed(id)) {
          before.put(id, observed.tokenCount(id));
        }
      }
      long killed = System.nanoTime();
      a.destroyForcibly();
      double moved = Double.NaN;
      double token = Double.NaN;
      deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (Double.isNaN(token) || Double.isNaN(moved)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("no failover within 120 s");
        }
        observed.poll();
        long now = System.nanoTime();
        if (Double.isNaN(token)
            && before.entrySet().stream()
                .anyMatch(e -> observed.tokenCount(e.getKey()) > e.getValue())) {
          token = (now - killed) / 1e9;
        }
        if (Double.isNaN(moved)
            && services.assignment(deployment.admin).getOrDefault("instance-b", Set.of()).size()
                == PARTITIONS) {
          moved = (System.nanoTime() - killed) / 1e9;
        }
      }
      deployment.admin.deleteTopics(
          Topics.newTopics(prefix, PARTITIONS, (short) 1).stream().map(t -> t.name()).toList());
      return new double[] {moved, token};
    }
  }

  /** The partitions {@code name} owns once both instances share the group. */
  private static Set<Integer> awaitShared(ServiceProcesses services, Admin admin, String name)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      Map<String, Set<Integer>> owned = services.assignment(admin);
      Set<Integer> mine = owned.getOrDefault(name, Set.of());
      int assigned = owned.values().stream().mapToInt(Set::size).sum();
      if (owned.size() == 2 && assigned == PARTITIONS && !mine.isEmpty() && mine.size() < 4) {
        return mine;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the instances did not share the partitions: " + owned);
      }
      Thread.sleep(200);
    }
  }

  /** One-off prompts of 400 new tokens, keyed by request id; returns each one's partition. */
  private static Map<String, Integer> publish(LocalKafkaCluster kafka, Topics topics)
      throws Exception {
    Map<String, Integer> partitionOf = new HashMap<>();
    String[] openings = {"The jury said", "It was", "The court", "He said that", "In the"};
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", kafka.bootstrapServers()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      for (int i = 0; i < PROMPTS; i++) {
        String id = "failover-" + i;
        PromptRequest prompt =
            PromptRequest.newBuilder()
                .setRequestId(id)
                .setTenant("acme")
                .setInput(TextInput.newBuilder().setText(openings[i % openings.length]).build())
                .setSampling(
                    SamplingParams.newBuilder().setTemperature(0.8).setMaxNewTokens(400).build())
                .setCreatedAt(Instant.now())
                .build();
        partitionOf.put(
            id,
            producer
                .send(new ProducerRecord<>(topics.prompts().name(), id, prompt))
                .get()
                .partition());
      }
    }
    return partitionOf;
  }
}
