package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scaling by partitions on a real 3-broker cluster (child JVMs) with the service in child JVMs
 * ({@code latentstream serve}): {@code prompts} has 6 partitions; one instance, then three (started
 * while requests are generating), then one again (two stopped with SIGTERM while requests are
 * generating). A steady load of one-off requests runs throughout, and a chat session on every
 * partition gets a turn in each phase, so each session's later turns are served by another instance
 * than its earlier ones and must find the session's latent cache there. A read_committed consumer
 * must see every request's token indices 0..n-1 exactly once and one completion each.
 */
class ScalingTest {
  private static final Path MODEL = Path.of("../models/brown-mtp").toAbsolutePath().normalize();
  private static final String PREFIX = "sc.";
  private static final String APPLICATION_ID = "scaling-test";
  private static final int PARTITIONS = 6;

  /**
   * One-off requests kept generating at any time (each instance runs up to 32 at once), of up to 64
   * tokens: a second or more each here, so that a rebalance finds some mid-generation.
   */
  private static final int LOAD = 8;

  private static final String A = "svc-a";
  private static final String B = "svc-b";
  private static final String C = "svc-c";

  @TempDir Path directory;
  private LocalDeployment deployment;
  private Topics topics;
  private ServiceProcesses services;
  private KafkaProducer<String, PromptRequest> producer;
  private EventReader observed;

  /** Every request published, and the one-off ones among them. */
  private final Set<String> requests = new LinkedHashSet<>();

  private final Set<String> oneOffs = new LinkedHashSet<>();
  private boolean loadOn;

  @BeforeEach
  void startClusterAndRegistry() throws Exception {
    deployment = LocalDeployment.start(3, directory.resolve("kafka"));
    topics = deployment.createTopics(PREFIX, PARTITIONS, (short) 3);
    services = deployment.services(directory, topics, MODEL, APPLICATION_ID);
    producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                deployment.cluster.bootstrapServers(),
                ProducerConfig.LINGER_MS_CONFIG,
                0),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer());
    observed = deployment.observe(topics);
  }

  @AfterEach
  void stopEverything() throws Exception {
    if (services != null) {
      services.close();
      // The instances' logs, for a look after a failure: target/ScalingTest/.
      Path logs = Files.createDirectories(Path.of("target", "ScalingTest"));
      for (String name : List.of(A, B, C)) {
        Files.writeString(logs.resolve(name + ".log"), services.log(name));
      }
    }
    for (AutoCloseable closeable : new AutoCloseable[] {observed, producer, deployment}) {
      if (closeable != null) {
        closeable.close();
      }
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void scalingOutAndInMovesSessionsWithTheirCachesAndLosesOrRepeatsNoRequest() throws Exception {
    List<String> sessions = onePerPartition();

    // One instance owns every partition; each session's first turn is served there.
    start(A);
    services.awaitRunning(A);
    awaitAssignment(Map.of(A, PARTITIONS));
    loadOn = true;
    List<String> firstTurns = publishTurn(sessions, 1, "Tell me about the jury");
    pumpUntil("first turns complete", () -> observed.completedWithTokens(firstTurns));

    // Scale out to three while one-off requests are generating.
    pumpUntil("a request is generating", () -> generating(Set.of()) != null);
    start(B);
    start(C);
    pumpUntil("three instances running", () -> services.isRunning(B) && services.isRunning(C));
    Map<String, Set<Integer>> three = awaitAssignment(Map.of(A, 2, B, 2, C, 2));
    List<String> secondTurns = publishTurn(sessions, 2, "And then what?");
    pumpUntil("second turns complete", () -> observed.completedWithTokens(secondTurns));
    assertEquals(
        three, services.assignment(deployment.admin), "no rebalance while the second turns ran");
    assertCached(secondTurns);
    for (String instance : List.of(B, C)) {
      // Each new instance took over partitions whose sessions' first turns ran on A.
      long moved =
          sessions.stream().filter(s -> three.get(instance).contains(partition(s))).count();
      assertEquals(
          moved,
          (long) services.sessionCacheHits(instance),
          instance + " served its sessions' second turns from the cache they had on " + A);
    }
    // Whether a one-off request is still under way on a moved partition at scale-out depends on
    // timing (CI saw them all finish first), so continuing a moved request is asserted below, at
    // scale-in, where requests are started on the leaving instances on purpose; exactly-once for
    // every request is asserted at the end.

    // Scale in to one while requests of the stopped instances' partitions are generating: two
    // fresh 64-token requests on each, just started (their logs say so; the consumer lags).
    double hitsOnA = services.sessionCacheHits(A);
    int startedOnB = services.generationsStarted(B);
    int startedOnC = services.generationsStarted(C);
    publishOneOffs(three.get(B), 2);
    publishOneOffs(three.get(C), 2);
    pumpUntil(
        "fresh requests run on B and C",
        () ->
            services.generationsStarted(B) >= startedOnB + 2
                && services.generationsStarted(C) >= startedOnC + 2);
    services.stop(B, C);
    awaitAssignment(Map.of(A, PARTITIONS));
    List<String> thirdTurns = publishTurn(sessions, 3, "Who was there?");
    pumpUntil("third turns complete", () -> observed.completedWithTokens(thirdTurns));
    assertCached(thirdTurns);
    assertEquals(
        hitsOnA + sessions.size(),
        services.sessionCacheHits(A),
        A + " served every third turn from the cache, those of B's and C's sessions included");
    assertTrue(
        resumed(A).values().stream().anyMatch(n -> n > 0),
        A + " resumed no request mid-generation: the scale-in moved none, " + resumed(A));

    loadOn = false;
    pumpUntil("every request completes", () -> observed.completedWithTokens(requests));
    assertExactlyOnce();
  }

  /** Starts an instance: one engine thread, and a stopped instance's partitions move in seconds. */
  private void start(String name) throws Exception {
    services.start(
        name,
        // The kernels use availableProcessors() threads; three instances share 2 cores here.
        List.of("-XX:ActiveProcessorCount=1"),
        Map.of(
            // Kafka Streams does not leave the group on close: the group notices a stopped
            // instance after the session timeout (45 s by default).
            "kafka.streams.default.consumer.session.timeout.ms", "6000",
            "kafka.streams.default.consumer.heartbeat.interval.ms", "1000"));
  }

  /** Session ids whose keys hash to partitions 0..5, one each. */
  private static List<String> onePerPartition() {
    Map<Integer, String> byPartition = new TreeMap<>();
    for (int i = 0; byPartition.size() < PARTITIONS; i++) {
      byPartition.putIfAbsent(partition("session-" + i), "session-" + i);
    }
    return new ArrayList<>(byPartition.values());
  }

  /** The partition of {@code prompts} the default partitioner picks for this key. */
  private static int partition(String key) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
  }

  private List<String> publishTurn(List<String> sessions, int turn, String user) {
    List<String> ids = new ArrayList<>();
    for (String session : sessions) {
      String id = session + "-turn-" + turn;
      ChatInput chat =
          ChatInput.newBuilder()
              .setMessages(
                  List.of(ChatMessage.newBuilder().setRole("user").setContent(user).build()))
              .build();
      publish(session, prompt(id, session, chat, turn == 2 ? 0.0 : 0.8, 16));
      ids.add(id);
    }
    producer.flush();
    return ids;
  }

  /** Keeps {@link #LOAD} one-off requests under way while the load is on. */
  private void topUp() {
    if (!loadOn) {
      return;
    }
    long running = oneOffs.stream().filter(id -> !observed.completed(id)).count();
    for (long i = running; i < LOAD; i++) {
      publishOneOff("one-" + oneOffs.size());
    }
    producer.flush();
  }

  /** Publishes {@code count} more one-off requests to these partitions. */
  private void publishOneOffs(Set<Integer> partitions, int count) {
    for (int i = 0, published = 0; published < count; i++) {
      String id = "burst-" + i;
      if (partitions.contains(partition(id)) && !requests.contains(id)) {
        publishOneOff(id);
        published++;
      }
    }
    producer.flush();
  }

  /** A one-off request of up to 64 tokens, greedy or sampled by turns. */
  private void publishOneOff(String id) {
    String[] openings = {"The jury said", "It was", "The court", "He said that", "In the"};
    int n = oneOffs.size();
    TextInput text = TextInput.newBuilder().setText(openings[n % openings.length]).build();
    publish(id, prompt(id, null, text, n % 2 == 0 ? 0.0 : 0.9, 64));
    oneOffs.add(id);
  }

  private void publish(String key, PromptRequest prompt) {
    producer.send(new ProducerRecord<>(topics.prompts().name(), key, prompt));
    requests.add(prompt.getRequestId());
  }

  private static PromptRequest prompt(
      String id, String session, Object input, double temperature, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(input)
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(temperature)
                .setMaxNewTokens(maxNewTokens)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }

  /**
   * A one-off request (of these partitions, or any when empty) with a few tokens out, far from its
   * end.
   */
  private String generating(Set<Integer> partitions) {
    return oneOffs.stream()
        .filter(id -> partitions.isEmpty() || partitions.contains(partition(id)))
        .filter(id -> observed.tokenCount(id) >= 2 && observed.tokenCount(id) <= 16)
        .filter(id -> !observed.completed(id))
        .findFirst()
        .orElse(null);
  }

  /** How many tokens each request instance {@code name} resumed had forwarded before. */
  private Map<String, Integer> resumed(String name) throws Exception {
    return ServiceProcesses.resumed(services.log(name));
  }

  private void assertCached(List<String> turns) {
    for (String id : turns) {
      Completion completion = observed.completions().get(id);
      assertTrue(
          completion.getUsage().getCachedPromptTokens() > 0,
          id + " continued its session from the cached prefix: " + completion.getUsage());
    }
  }

  /** Every request: one completion, and its token indices 0..n-1 exactly once, in order. */
  private void assertExactlyOnce() {
    assertEquals(requests, observed.completions().keySet(), "a completion for every request");
    Map<String, Integer> once = new HashMap<>();
    requests.forEach(id -> once.put(id, 1));
    assertEquals(once, observed.completionCounts(), "exactly one completion per request");
    assertEquals(requests, observed.indices().keySet(), "token events of every request");
    for (String id : requests) {
      List<Integer> indices = observed.indices(id);
      assertEquals(
          observed.completions().get(id).getTokenIds().size(),
          indices.size(),
          id + ": one event per token, " + indices);
      for (int i = 0; i < indices.size(); i++) {
        assertEquals(i, indices.get(i), id + ": indices 0..n-1 exactly once, in order");
      }
    }
  }

  /** Condition checked while the load runs; may throw. */
  private interface Check {
    boolean holds() throws Exception;
  }

  /**
   * Reads the outputs and keeps the load up until {@code check} holds (checked every 250 ms), for
   * at most 90 s; fails if an instance exits on its own.
   */
  private void pumpUntil(String what, Check check) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    long nextCheck = 0;
    while (true) {
      topUp();
      observed.poll();
      if (System.nanoTime() >= nextCheck) {
        if (check.holds()) {
          return;
        }
        nextCheck = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(250);
      }
      assertTrue(
          System.nanoTime() < deadline,
          "timed out waiting until " + what + "; completed " + observed.completions().size());
    }
  }

  /** Waits (keeping the load up) until the group assigns exactly these partition counts. */
  private Map<String, Set<Integer>> awaitAssignment(Map<String, Integer> counts) throws Exception {
    AtomicReference<Map<String, Set<Integer>>> last = new AtomicReference<>();
    pumpUntil(
        "the group assigns " + counts,
        () -> {
          last.set(services.assignment(deployment.admin));
          Map<String, Integer> actual = new HashMap<>();
          last.get().forEach((name, partitions) -> actual.put(name, partitions.size()));
          return actual.equals(counts);
        });
    return last.get();
  }
}
