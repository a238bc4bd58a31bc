package io.latentstream.ops.local;

import io.latentstream.ops.pipeline.BenchPipelineCommand;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Aggregate tokens/s of 1 and of 3 service instances ({@code latentstream serve} child JVMs, one
 * engine thread each) over the same 3-broker cluster (child JVMs) and the same prompts: {@code
 * prompts} with 6 partitions, replication 3, exactly_once_v2. Each run starts its instances on
 * fresh topics and a fresh application id, waits until the group has assigned all 6 partitions,
 * publishes the prompts once untimed (every instance warms up), then again (other request ids, same
 * texts and seeds) and times from the first publish to the last completion read by a read_committed
 * consumer. Runs alternate 1 and 3 instances; medians are printed.
 *
 * <p>Usage: {@code ops/bench-scaling [PROMPTS [MAX_NEW_TOKENS [REPEATS]]]} (default 48 64 3).
 */
public final class ScalingBenchmark {
  private ScalingBenchmark() {}

  public static void main(String[] args) throws Exception {
    int prompts = args.length > 0 ? Integer.parseInt(args[0]) : 48;
    int maxNewTokens = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    Path model = Path.of("models/brown-mtp").toAbsolutePath();
    Path data = Files.createTempDirectory("latentstream-bench-scaling-");
    try (LocalDeployment deployment = LocalDeployment.start(3, data.resolve("kafka"))) {
      Map<Integer, List<double[]>> runs = new HashMap<>();
      int run = 0;
      // Warm-up (not counted): the brokers' and the registry's first transactions and topics.
      measure(deployment, data, model, 1, prompts, maxNewTokens, run++);
      for (int r = 0; r < repeats; r++) {
        for (int instances : new int[] {1, 3}) {
          double[] result =
              measure(deployment, data, model, instances, prompts, maxNewTokens, run++);
          runs.computeIfAbsent(instances, i -> new ArrayList<>()).add(result);
          System.out.printf(
              "run %d: %d instance(s): %.0f tokens in %.2f s = %.0f tokens/s%n",
              r + 1, instances, result[0], result[1], result[0] / result[1]);
        }
      }
      System.out.printf(
          "%n%d prompts x up to %d tokens, 6 partitions, 3 brokers, %d runs each (medians)%n",
          prompts, maxNewTokens, repeats);
      for (int instances : new int[] {1, 3}) {
        double[] tps = runs.get(instances).stream().mapToDouble(x -> x[0] / x[1]).toArray();
        double[] seconds = runs.get(instances).stream().mapToDouble(x -> x[1]).toArray();
        System.out.printf(
            "%d instance(s): %.0f tokens/s (runs %s), %.2f s%n",
            instances, median(tps), Arrays.toString(round(tps)), median(seconds));
      }
    }
  }

  /** One run: {tokens, seconds}. */
  private static double[] measure(
      LocalDeployment deployment,
      Path data,
      Path model,
      int instances,
      int prompts,
      int maxNewTokens,
      int run)
      throws Exception {
    String name = "bench-scaling-" + run;
    Topics topics = deployment.createTopics(name + ".", 6, (short) 3);
    Path directory = Files.createDirectories(data.resolve(name));
    try (ServiceProcesses services = deployment.services(directory, topics, model, name);
        KafkaProducer<String, PromptRequest> producer =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", deployment.cluster.bootstrapServers(), "linger.ms", 5),
                new StringSerializer(),
                topics.prompts().valueSerde().serializer());
        EventReader observed = deployment.observe(topics)) {
      List<String> names = new ArrayList<>();
      for (int i = 0; i < instances; i++) {
        names.add("instance-" + i);
        services.start("instance-" + i, List.of("-XX:ActiveProcessorCount=1"), Map.of());
      }
      for (String instance : names) {
        services.awaitRunning(instance);
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (true) {
        Map<String, Set<Integer>> owned = services.assignment(deployment.admin);
        if (owned.size() == instances
            && owned.values().stream().mapToInt(Set::size).sum() == 6
            && owned.values().stream().noneMatch(Set::isEmpty)) {
          break;
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("the group did not settle: " + owned);
        }
        Thread.sleep(200);
      }
      // Warm-up on the same instances (not timed): every instance JIT-compiles the engine and
      // the clients' paths, which would otherwise be timed once per instance.
      publish(producer, topics, "w", prompts, maxNewTokens);
      Set<String> warmup = new HashSet<>();
      for (int i = 0; i < prompts; i++) {
        warmup.add("w" + i);
      }
      while (!observed.completions().keySet().containsAll(warmup)) {
        observed.poll();
      }
      long start = System.nanoTime();
      Set<String> ids = publish(producer, topics, "r", prompts, maxNewTokens);
      observed.awaitCompletedWithTokens(ids, Duration.ofMinutes(5));
      double seconds = (System.nanoTime() - start) / 1e9;
      long tokens =
          ids.stream().mapToLong(id -> observed.completions().get(id).getTokenIds().size()).sum();
      return new double[] {tokens, seconds};
    }
  }

  /** Publishes prompts {@code <prefix>0..} at once; returns their ids. */
  private static Set<String> publish(
      KafkaProducer<String, PromptRequest> producer,
      Topics topics,
      String prefix,
      int prompts,
      int maxNewTokens) {
    Set<String> ids = new HashSet<>();
    for (int i = 0; i < prompts; i++) {
      String id = prefix + i;
      PromptRequest prompt = BenchPipelineCommand.prompt(id, i, maxNewTokens);
      producer.send(new ProducerRecord<>(topics.prompts().name(), id, prompt));
      ids.add(id);
    }
    producer.flush();
    return ids;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private static long[] round(double[] values) {
    return Arrays.stream(values).mapToLong(Math::round).toArray();
  }
}
