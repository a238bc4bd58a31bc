package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport;
import io.latentstream.registry.EmbeddedRegistryConfig;
import io.latentstream.registry.EmbeddedSchemaRegistry;
import io.latentstream.registry.RegistryClientConfig;
import io.latentstream.registry.SchemaRegistryClient;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.topology.Replay;
import io.latentstream.topology.ServedModel;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once under faults, on a real broker with the service in child JVMs ({@code latentstream
 * serve}): a service instance killed with SIGKILL in the middle of generations, and a broker killed
 * and restarted. A read_committed consumer of {@code tokens} must see every request's indices
 * 0..n-1 exactly once, and {@link Replay} (an undisturbed regeneration of the prompt log) must find
 * every recorded token identical.
 */
class FailoverTest {
  private static final Path MODEL = Path.of("../models/brown-mtp").toAbsolutePath().normalize();
  private static final String PREFIX = "fo.";
  private static final String APPLICATION_ID = "failover-test";
  private static final Pattern RESUMED =
      Pattern.compile("resuming request (\\S+) after (\\d+) forwarded tokens");

  @TempDir Path directory;
  private LocalKafkaCluster cluster;
  private EmbeddedSchemaRegistry registry;
  private Topics topics;
  private final List<Process> services = new ArrayList<>();
  private final Map<String, Integer> promptPartition = new HashMap<>();

  @BeforeEach
  void startBrokerAndRegistry() throws Exception {
    cluster =
        new LocalKafkaCluster(LocalKafkaCluster.Config.of(1, directory.resolve("kafka"))).start();
    registry =
        new EmbeddedSchemaRegistry(
                EmbeddedRegistryConfig.of(cluster.bootstrapServers()).withPort(0))
            .start();
    topics =
        Topics.create(
            PREFIX, new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", cluster.bootstrapServers()))) {
      admin.createTopics(Topics.newTopics(PREFIX, 4, (short) 1)).all().get(30, TimeUnit.SECONDS);
    }
  }

  @AfterEach
  void stopEverything() throws Exception {
    for (Process service : services) {
      service.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (registry != null) {
      registry.stop();
    }
    if (cluster != null) {
      cluster.stop();
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aKilledInstancesRequestsContinueOnTheOtherExactlyOnce() throws Exception {
    Process a = startService("instance-a");
    Process b = startService("instance-b");
    awaitRunning("instance-a", a);
    awaitRunning("instance-b", b);
    Set<Integer> ofA = awaitAssignment("instance-a");
    Set<String> requests = publishPrompts();
    Set<String> requestsOfA = new HashSet<>();
    promptPartition.forEach(
        (id, partition) -> {
          if (ofA.contains(partition)) {
            requestsOfA.add(id);
          }
        });
    assertTrue(!requestsOfA.isEmpty(), "instance-a owns partitions " + ofA + " but no request");

    Observed observed =
        observe(
            requests,
            seen ->
                requestsOfA.stream()
                    .anyMatch(id -> seen.tokenCount(id) >= 3 && !seen.completed(id)));
    a.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL, in the middle of generations
    assertTrue(!a.isAlive());
    observed.continueUntilComplete(Duration.ofSeconds(180));

    assertExactlyOnceAndIdentical(requests, observed, false);
    List<Integer> resumedAfter = resumed(log("instance-b"));
    assertTrue(
        resumedAfter.stream().anyMatch(n -> n > 0),
        "instance-b resumed no request mid-generation: " + resumedAfter);
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aBrokerRestartLosesAndRepeatsNoToken() throws Exception {
    Process a = startService("instance-a");
    awaitRunning("instance-a", a);
    Set<String> requests = publishPrompts();
    Observed observed =
        observe(
            requests,
            seen ->
                requests.stream().anyMatch(id -> seen.tokenCount(id) >= 3 && !seen.completed(id)));
    observed.close();
    cluster.kill(0);
    Thread.sleep(2_000);
    cluster.restart(0);
    observed = observe(requests, seen -> true);
    observed.continueUntilComplete(Duration.ofSeconds(200));
    assertTrue(a.isAlive(), "the service survives the broker's restart");
    assertExactlyOnceAndIdentical(requests, observed, true);
  }

  /**
   * Indices 0..n-1 exactly once per request, and a replay (through the command line when {@code
   * viaCli}) finds every token identical to an undisturbed regeneration.
   */
  private void assertExactlyOnceAndIdentical(
      Set<String> requests, Observed observed, boolean viaCli) throws Exception {
    for (String id : requests) {
      List<Integer> indices = observed.indices.get(id);
      Completion completion = observed.completions.get(id);
      assertEquals(completion.getTokenIds().size(), indices.size(), id + ": one event per token");
      for (int i = 0; i < indices.size(); i++) {
        assertEquals(i, indices.get(i), id + ": indices 0..n-1 exactly once, in order");
      }
    }
    if (viaCli) {
      var replay =
          LatentstreamCliTestSupport.run(
              "replay",
              "--bootstrap-servers",
              cluster.bootstrapServers(),
              "--schema-registry-url",
              registry.url().toString(),
              "--topic-prefix",
              PREFIX,
              "--from-offset",
              "0",
              "--model",
              MODEL.toString(),
              "--verify");
      assertEquals(0, replay.exitCode(), replay.out() + replay.err());
      assertTrue(
          replay
              .out()
              .contains("requests checked " + requests.size() + ", identical " + requests.size()),
          replay.out());
      return;
    }
    try (ServedModel model =
        ServedModel.load(MODEL, "brown-mtp", GenerationLoop.Settings.defaults())) {
      Replay.Report report =
          new Replay(model, topics, Map.of("bootstrap.servers", cluster.bootstrapServers()), 1024)
              .verify(Replay.Range.all(), false, null);
      assertEquals(List.of(), report.diverging(), "the text equals an undisturbed run");
      assertEquals(requests.size(), report.identical());
    }
  }

  /** One-off requests (greedy and sampled) and two-turn chat sessions; returns the request ids. */
  private Set<String> publishPrompts() throws Exception {
    Set<String> ids = new HashSet<>();
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      List<PromptRequest> prompts = new ArrayList<>();
      String[] openings = {"The jury said", "It was", "The court", "He said that", "In the"};
      for (int i = 0; i < 12; i++) {
        prompts.add(
            prompt("one-" + i, null, text(openings[i % openings.length]), i % 2 == 0 ? 0.0 : 0.9));
      }
      for (int s = 0; s < 4; s++) {
        prompts.add(prompt("s" + s + "-t1", "session-" + s, chat("Tell me about the jury"), 0.8));
        prompts.add(prompt("s" + s + "-t2", "session-" + s, chat("And then what?"), 0.0));
      }
      for (PromptRequest prompt : prompts) {
        String key = prompt.getSessionId() != null ? prompt.getSessionId() : prompt.getRequestId();
        var sent = producer.send(new ProducerRecord<>(topics.prompts().name(), key, prompt)).get();
        promptPartition.put(prompt.getRequestId(), sent.partition());
        ids.add(prompt.getRequestId());
      }
    }
    return ids;
  }

  private static PromptRequest prompt(String id, String session, Object input, double temperature) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(input)
        .setSampling(
            SamplingParams.newBuilder().setTemperature(temperature).setMaxNewTokens(48).build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private static TextInput text(String text) {
    return TextInput.newBuilder().setText(text).build();
  }

  private static ChatInput chat(String user) {
    return ChatInput.newBuilder()
        .setMessages(List.of(ChatMessage.newBuilder().setRole("user").setContent(user).build()))
        .build();
  }

  /** Starts {@code latentstream serve} as a child JVM; its output goes to {@code name.log}. */
  private Process startService(String name) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(
        List.of(
            "--add-modules",
            "jdk.incubator.vector",
            "-Xmx768m",
            "-Dorg.slf4j.simpleLogger.log.io.latentstream=info",
            "-cp",
            System.getProperty("java.class.path"),
            "io.latentstream.ops.LatentstreamCli",
            "serve",
            "--bootstrap-servers",
            cluster.bootstrapServers(),
            "--schema-registry-url",
            registry.url().toString(),
            "--topic-prefix",
            PREFIX,
            "--model",
            MODEL.toString(),
            "--application-id",
            APPLICATION_ID,
            "--state-dir",
            directory.resolve(name).toString(),
            "--http-port",
            "0",
            // Few requests at a time per instance, so that generations are under way at the kill.
            "-p",
            "latentstream.max-running=4",
            "-p",
            "kafka.streams.default.client.id=" + name,
            "-p",
            "kafka.streams.default.replication.factor=1",
            // Detect the killed instance in seconds rather than the default 45 s.
            "-p",
            "kafka.streams.default.consumer.session.timeout.ms=6000",
            "-p",
            "kafka.streams.default.consumer.heartbeat.interval.ms=1000",
            // The killed instance's open transaction is aborted after this long.
            "-p",
            "kafka.streams.default.producer.transaction.timeout.ms=5000"));
    Process process =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(directory.resolve(name + ".log").toFile())
            .start();
    services.add(process);
    return process;
  }

  private void awaitRunning(String name, Process process) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!log(name).contains("running " + APPLICATION_ID)) {
      assertTrue(process.isAlive(), name + " exited:\n" + log(name));
      assertTrue(System.nanoTime() < deadline, name + " did not start:\n" + log(name));
      Thread.sleep(200);
    }
  }

  /** The partitions of prompts that {@code name} owns once both instances share the group. */
  private Set<Integer> awaitAssignment(String name) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", cluster.bootstrapServers()))) {
      while (true) {
        var group =
            admin
                .describeConsumerGroups(List.of(APPLICATION_ID))
                .all()
                .get(10, TimeUnit.SECONDS)
                .get(APPLICATION_ID);
        Set<Integer> mine = new HashSet<>();
        int assigned = 0;
        for (MemberDescription member : group.members()) {
          for (TopicPartition p : member.assignment().topicPartitions()) {
            if (p.topic().equals(topics.prompts().name())) {
              assigned++;
              if (member.clientId().startsWith(name)) {
                mine.add(p.partition());
              }
            }
          }
        }
        if (group.members().size() == 2 && assigned == 4 && !mine.isEmpty() && mine.size() < 4) {
          return mine;
        }
        assertTrue(System.nanoTime() < deadline, "the instances did not share the partitions");
        Thread.sleep(200);
      }
    }
  }

  private String log(String name) throws IOException {
    Path file = directory.resolve(name + ".log");
    return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
  }

  private static List<Integer> resumed(String log) {
    List<Integer> after = new ArrayList<>();
    Matcher m = RESUMED.matcher(log);
    while (m.find()) {
      after.add(Integer.parseInt(m.group(2)));
    }
    return after;
  }

  /** Consumes tokens and completions read_committed until {@code until} holds; then returns. */
  private Observed observe(Set<String> requests, Predicate<Observed> until) throws Exception {
    Observed observed = new Observed(requests);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!until.test(observed)) {
      assertTrue(
          observed.completions.size() < requests.size(),
          "every request completed before the fault; nothing was interrupted");
      assertTrue(System.nanoTime() < deadline, "no progress: " + observed.indices);
      observed.poll();
    }
    return observed;
  }

  /**
   * What a read_committed consumer saw: every token event's index, per request, and completions.
   */
  private final class Observed implements AutoCloseable {
    final Set<String> requests;
    final Map<String, List<Integer>> indices = new HashMap<>();
    final Map<String, Completion> completions = new HashMap<>();
    final KafkaConsumer<String, byte[]> consumer;

    Observed(Set<String> requests) {
      this.requests = requests;
      Map<String, Object> config = new HashMap<>();
      config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
      config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      config.put(ConsumerConfig.GROUP_ID_CONFIG, "observer-" + System.nanoTime());
      consumer = new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
      consumer.subscribe(List.of(topics.tokens().name(), topics.completions().name()));
    }

    int tokenCount(String id) {
      return indices.getOrDefault(id, List.of()).size();
    }

    boolean completed(String id) {
      return completions.containsKey(id);
    }

    void poll() {
      for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(100))) {
        if (record.topic().equals(topics.tokens().name())) {
          TokenEvent event =
              topics
                  .tokens()
                  .valueSerde()
                  .deserializer()
                  .deserialize(record.topic(), record.value());
          indices
              .computeIfAbsent(event.getRequestId(), id -> new ArrayList<>())
              .add(event.getIndex());
        } else {
          Completion completion =
              topics
                  .completions()
                  .valueSerde()
                  .deserializer()
                  .deserialize(record.topic(), record.value());
          completions.put(completion.getRequestId(), completion);
        }
      }
    }

    void continueUntilComplete(Duration timeout) {
      long deadline = System.nanoTime() + timeout.toNanos();
      try {
        while (!completions.keySet().containsAll(requests)) {
          assertTrue(
              System.nanoTime() < deadline,
              "not every request completed: " + completions.keySet() + " of " + requests);
          poll();
        }
      } finally {
        close();
      }
    }

    @Override
    public void close() {
      consumer.close(Duration.ofSeconds(5));
    }
  }
}
