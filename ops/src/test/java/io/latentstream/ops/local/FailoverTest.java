package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport;
import io.latentstream.replay.Replay;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.PromptLimits;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once under faults, on a real broker with the service in child JVMs ({@code latentstream
 * serve}): a service instance killed with SIGKILL in the middle of generations, and a broker killed
 * and restarted. Requests publish their tokens as token events or as chunks (their own choice, or
 * the deployment's: instance-a's chunks, instance-b's token events). A read_committed consumer of
 * {@code tokens} and {@code token-chunks} must see every request's tokens in one form, indices
 * 0..n-1 exactly once across chunk boundaries, the ids of its completion; and {@link Replay} (an
 * undisturbed regeneration of the prompt log) must find every recorded token identical.
 */
class FailoverTest {
  private static final Path MODEL = Path.of("../models/brown-mtp").toAbsolutePath().normalize();
  private static final String PREFIX = "fo.";
  private static final String APPLICATION_ID = "failover-test";

  @TempDir Path directory;
  private LocalDeployment deployment;
  private Topics topics;
  private ServiceProcesses services;
  private final Map<String, Integer> promptPartition = new HashMap<>();

  /** The form of token events each request chose; absent where it left it to the deployment. */
  private final Map<String, TokenEventForm> chosenForm = new HashMap<>();

  @BeforeEach
  void startBrokerAndRegistry() throws Exception {
    deployment = LocalDeployment.start(1, directory.resolve("kafka"));
    topics = deployment.createTopics(PREFIX, 4, (short) 1);
    services = deployment.services(directory, topics, MODEL, APPLICATION_ID);
  }

  @AfterEach
  void stopEverything() throws Exception {
    if (services != null) {
      services.close();
    }
    if (deployment != null) {
      deployment.close();
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aKilledInstancesRequestsContinueOnTheOtherExactlyOnce() throws Exception {
    Process a = startService("instance-a", TokenEventForm.CHUNK);
    Process b = startService("instance-b", TokenEventForm.TOKEN);
    services.awaitRunning("instance-a");
    services.awaitRunning("instance-b");
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

    try (EventReader observed =
        observe(
            requests,
            seen ->
                requestsOfA.stream()
                    .anyMatch(
                        id ->
                            seen.forms(id).contains(TokenEventForm.CHUNK)
                                && seen.tokenCount(id) >= 3
                                && !seen.completed(id)))) {
      a.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL, in the middle of generations
      assertTrue(!a.isAlive());
      observed.awaitCompletedWithTokens(requests, Duration.ofSeconds(180));
      assertExactlyOnceAndIdentical(requests, observed, false);
      // A request keeps the form it was accepted in: instance-b, whose own requests get token
      // events, continues instance-a's chunk-form requests in chunks, after the last committed one.
      Map<String, Integer> resumed = ServiceProcesses.resumed(services.log("instance-b"));
      assertTrue(
          resumed.entrySet().stream()
              .anyMatch(
                  r ->
                      r.getValue() > 0
                          && observed.forms(r.getKey()).equals(Set.of(TokenEventForm.CHUNK))),
          "instance-b resumed no chunk-form request mid-generation: " + resumed);
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aBrokerRestartLosesAndRepeatsNoToken() throws Exception {
    Process a = startService("instance-a", TokenEventForm.CHUNK);
    services.awaitRunning("instance-a");
    Set<String> requests = publishPrompts();
    // The broker dies while requests are generating.
    observe(
            requests,
            seen ->
                requests.stream().anyMatch(id -> seen.tokenCount(id) >= 3 && !seen.completed(id)))
        .close();
    deployment.cluster.kill(0);
    Thread.sleep(2_000);
    deployment.cluster.restart(0);
    try (EventReader observed = deployment.observe(topics)) {
      observed.awaitCompletedWithTokens(requests, Duration.ofSeconds(200));
      assertTrue(a.isAlive(), "the service survives the broker's restart");
      assertExactlyOnceAndIdentical(requests, observed, true);
      // tail follows both forms: each request's whole text, once it finished.
      var tail = cli("tail", "--from-beginning", "--requests", String.valueOf(requests.size()));
      assertEquals(0, tail.exitCode(), tail.err());
      for (String id : requests) {
        String text = observed.completions().get(id).getText().replace('\n', ' ');
        assertTrue(tail.out().contains(id) && tail.out().contains(text), id + ": " + tail.out());
      }
    }
  }

  /** Runs {@code command} of the command line on this test's deployment, with {@code options}. */
  private LatentstreamCliTestSupport.Result cli(String command, String... options) {
    List<String> args =
        new ArrayList<>(
            List.of(
                command,
                "--bootstrap-servers",
                deployment.cluster.bootstrapServers(),
                "--schema-registry-url",
                deployment.registry.url().toString(),
                "--topic-prefix",
                PREFIX));
    args.addAll(List.of(options));
    return LatentstreamCliTestSupport.run(args.toArray(String[]::new));
  }

  /**
   * Per request: its tokens in one form (the one it chose, if it did), indices 0..n-1 exactly once,
   * the ids of its completion; and a replay (through the command line when {@code viaCli}) finds
   * every token identical to an undisturbed regeneration.
   */
  private void assertExactlyOnceAndIdentical(
      Set<String> requests, EventReader observed, boolean viaCli) throws Exception {
    Set<TokenEventForm> seen = EnumSet.noneOf(TokenEventForm.class);
    for (String id : requests) {
      Set<TokenEventForm> forms = observed.forms(id);
      assertEquals(1, forms.size(), id + ": one form of token events, got " + forms);
      if (chosenForm.containsKey(id)) {
        assertEquals(Set.of(chosenForm.get(id)), forms, id + ": the form it chose");
      }
      seen.addAll(forms);
      List<Integer> indices = observed.indices(id);
      Completion completion = observed.completions().get(id);
      assertEquals(completion.getTokenIds().size(), indices.size(), id + ": each token once");
      for (int i = 0; i < indices.size(); i++) {
        assertEquals(i, indices.get(i), id + ": indices 0..n-1 exactly once, in order");
      }
      assertEquals(completion.getTokenIds(), observed.tokenIds(id), id + ": the completion's ids");
    }
    assertEquals(EnumSet.allOf(TokenEventForm.class), seen, "both forms under test");
    if (viaCli) {
      var replay = cli("replay", "--from-offset", "0", "--model", MODEL.toString(), "--verify");
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
          new Replay(
                  model,
                  topics,
                  Map.of("bootstrap.servers", deployment.cluster.bootstrapServers()),
                  PromptLimits.defaults())
              .verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
      assertEquals(List.of(), report.diverging(), "the text equals an undisturbed run");
      assertEquals(requests.size(), report.identical());
    }
  }

  /**
   * One-off requests (greedy and sampled) and two-turn chat sessions, each choosing token events,
   * chunks or the deployment's form in turn; returns the request ids.
   */
  private Set<String> publishPrompts() throws Exception {
    Set<String> ids = new HashSet<>();
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, deployment.cluster.bootstrapServers()),
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
      TokenEventForm[] choices = {null, TokenEventForm.TOKEN, TokenEventForm.CHUNK};
      for (int i = 0; i < prompts.size(); i++) {
        TokenEventForm choice = choices[i % choices.length];
        prompts.get(i).setTokenEvents(choice);
        if (choice != null) {
          chosenForm.put(prompts.get(i).getRequestId(), choice);
        }
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

  /**
   * Starts an instance with few requests at a time, quick to detect when killed, whose requests
   * that choose no form of token events get {@code tokenEvents}.
   */
  private Process startService(String name, TokenEventForm tokenEvents) throws IOException {
    return services.start(
        name,
        List.of(),
        Map.of(
            "latentstream.token-events", tokenEvents.name().toLowerCase(Locale.ROOT),
            // Few requests at a time per instance, so that generations are under way at the kill.
            "latentstream.max-running", "4",
            "kafka.streams.default.replication.factor", "1",
            // Detect the killed instance in seconds rather than the default 45 s.
            "kafka.streams.default.consumer.session.timeout.ms", "6000",
            "kafka.streams.default.consumer.heartbeat.interval.ms", "1000",
            // The killed instance's open transaction is aborted after this long.
            "kafka.streams.default.producer.transaction.timeout.ms", "5000"));
  }

  /** The partitions of prompts that {@code name} owns once both instances share the group. */
  private Set<Integer> awaitAssignment(String name) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      Map<String, Set<Integer>> owned = services.assignment(deployment.admin);
      Set<Integer> mine = owned.getOrDefault(name, Set.of());
      int assigned = owned.values().stream().mapToInt(Set::size).sum();
      if (owned.size() == 2 && assigned == 4 && !mine.isEmpty() && mine.size() < 4) {
        return mine;
      }
      assertTrue(System.nanoTime() < deadline, "the instances did not share the partitions");
      Thread.sleep(200);
    }
  }

  /**
   * A read_committed reader of tokens and completions that has read until {@code until} holds;
   * fails if every request completes first (the fault would interrupt nothing).
   */
  private EventReader observe(Set<String> requests, Predicate<EventReader> until) {
    EventReader observed = deployment.observe(topics);
    observed.pollUntil(
        Duration.ofSeconds(120),
        () -> {
          if (until.test(observed)) {
            return true;
          }
          assertTrue(
              observed.completions().size() < requests.size(),
              "every request completed before the fault; nothing was interrupted");
          return false;
        },
        () -> "no progress: " + observed.indices());
    return observed;
  }
}
