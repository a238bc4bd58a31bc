package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.engine.Engine;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.schemas.TokenIdsInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import io.latentstream.tokenizer.Tokenizer;
import io.latentstream.weights.WeightsDigest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The whole pipeline on a real KRaft broker with the embedded registry and the brown-mtp model:
 * prompts in, token events, completions and errors out, exactly once.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class GenerationPipelineTest {
  private static final Path MODEL = SharedModels.model("brown-mtp");
  private static EmbeddedSchemaRegistry registry;
  private static Topics topics;
  private static ServedModel model;
  private static KafkaStreams streams;
  private static Engine referenceEngine;

  @BeforeAll
  static void start() throws Exception {
    registry = SharedKafkaCluster.registry("_schemas-pipeline-test");
    SchemaRegistryClient client =
        new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
    topics = Topics.create("pipeline-test.", client);
    SharedKafkaCluster.createTopics(Topics.newTopics(topics.prefix(), 2, (short) 1));
    Engine engine = CpuEngine.load(MODEL);
    Tokenizer tokenizer = Tokenizer.load(MODEL);
    GenerationLoop loop = new GenerationLoop(engine, tokenizer, GenerationLoop.Settings.defaults());
    // Always draft: a request's draft flags are then its sequence's own, whatever the step costs
    // the draft gate measures, so that two runs of a prompt compare flag by flag.
    loop.pinDraftConfidence(0);
    loop.start();
    model = new ServedModel(engine, tokenizer, loop, "brown-mtp", WeightsDigest.of(MODEL), "test");
    referenceEngine = CpuEngine.load(MODEL);
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, TopologySettings.defaults());
    Properties config =
        StreamsSettings.of(
            "pipeline-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("pipeline"),
            1);
    streams = new KafkaStreams(builder.build(), config);
    streams.start();
  }

  @AfterAll
  static void stop() {
    if (streams != null) {
      streams.close(Duration.ofSeconds(30));
    }
    if (model != null) {
      model.close();
    }
    if (registry != null) {
      registry.stop();
    }
  }

  private static PromptRequest.Builder prompt(String requestId, String sessionId, Object input) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setSessionId(sessionId)
        .setTenant("acme")
        .setInput(input)
        .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(24).build())
        .setCreatedAt(Instant.now());
  }

  private static TextInput text(String text) {
    return TextInput.newBuilder().setText(text).build();
  }

  private static void publish(PromptRequest... prompts) {
    SharedKafkaCluster.publish(topics, prompts);
  }

  private static void publishRaw(String key, byte[] value) {
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers()),
            new StringSerializer(),
            new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(topics.prompts().name(), key, value));
    }
  }

  /** Reads a topic as read_committed until {@code done} holds for its relevant events. */
  private static <V> List<V> readUntil(
      Topics.Topic<String, V> topic, Predicate<List<V>> done, Predicate<V> relevant) {
    try (EventReader reader = EventReader.committed(topic)) {
      Supplier<List<V>> read = () -> reader.read(topic).stream().filter(relevant).toList();
      reader.pollUntil(
          Duration.ofSeconds(120),
          () -> done.test(read.get()),
          () -> "timed out reading " + topic.name() + ": " + read.get());
      return read.get();
    }
  }

  private static Completion completionOf(String requestId) {
    return readUntil(
            topics.completions(), list -> !list.isEmpty(), c -> c.getRequestId().equals(requestId))
        .get(0);
  }

  /** The engine alone, on its own loop, for the expected output. */
  private static int[] engineAlone(int[] context, int maxNewTokens) throws Exception {
    int[][] out = new int[1][];
    try (GenerationLoop loop =
        new GenerationLoop(
            referenceEngine, Tokenizer.load(MODEL), GenerationLoop.Settings.defaults())) {
      loop.submit(
          GenerationRequest.of(
              "expected", context, io.latentstream.sampling.SamplingParams.greedy(maxNewTokens)),
          new GenerationListener() {
            @Override
            public void onToken(TokenEmission token) {}

            @Override
            public void onFinished(GenerationOutcome outcome) {
              out[0] = outcome.tokens();
            }
          });
      loop.runUntilIdle();
    }
    return out[0];
  }

  @Test
  void greedyGenerationThroughKafkaEqualsTheEngineAlone() throws Exception {
    publish(prompt("jury-1", null, text("The jury said")).build());
    Completion completion = completionOf("jury-1");
    int[] expected = engineAlone(model.tokenizer().encode("The jury said", true), 24);
    assertArrayEquals(
        expected, completion.getTokenIds().stream().mapToInt(Integer::intValue).toArray());
    assertEquals(model.tokenizer().decode(expected, true), completion.getText());
    assertEquals(model.weightsDigest(), completion.getWeightsDigest());

    List<TokenEvent> events =
        readUntil(
            topics.tokens(),
            list -> list.size() >= expected.length,
            event -> event.getRequestId().equals("jury-1"));
    StringBuilder streamed = new StringBuilder();
    for (int i = 0; i < events.size(); i++) {
      assertEquals(i, events.get(i).getIndex(), "indices 0..n-1 exactly once, in order");
      assertEquals(expected[i], events.get(i).getTokenId());
      streamed.append(events.get(i).getTextDelta());
    }
    assertEquals(completion.getText(), streamed.toString());
    assertNotNull(events.get(events.size() - 1).getFinishReason());
  }

  /**
   * The same prompts (same seeds) once with token events and once with chunks, each by its own
   * token_events over the deployment's token default: each request's events on its form's topic
   * alone, and its chunks, in order from first_index 0 without gap, hold exactly the ids, logprobs,
   * draft flags and text its twin's token events carry, the finish reason on the last chunk only.
   */
  @Test
  void aRequestsChunksCarryExactlyWhatItsTokenEventsWould() {
    List<String> bases = List.of("twin-greedy", "twin-sampled", "twin-stop");
    List<String> requests = new ArrayList<>();
    for (TokenEventForm form : TokenEventForm.values()) {
      String suffix = "-" + form.name().toLowerCase(Locale.ROOT);
      publish(
          prompt("twin-greedy" + suffix, null, text("The jury said")).setTokenEvents(form).build(),
          sampled(prompt("twin-sampled" + suffix, null, text("It was")), List.of())
              .setTokenEvents(form)
              .build(),
          // A stop string holds text back while the output may be starting it.
          sampled(prompt("twin-stop" + suffix, null, text("The court")), List.of(" the"))
              .setTokenEvents(form)
              .build());
      bases.forEach(base -> requests.add(base + suffix));
    }
    try (EventReader reader =
        EventReader.committed(topics.tokens(), topics.tokenChunks(), topics.completions())) {
      reader.awaitCompletedWithTokens(requests, Duration.ofSeconds(120));
      for (String base : bases) {
        String token = base + "-token";
        String chunk = base + "-chunk";
        List<TokenEvent> events =
            reader.read(topics.tokens()).stream()
                .filter(e -> e.getRequestId().equals(token))
                .toList();
        List<TokenChunk> chunks =
            reader.read(topics.tokenChunks()).stream()
                .filter(c -> c.getRequestId().equals(chunk))
                .toList();
        assertTrue(
            reader.read(topics.tokens()).stream().noneMatch(e -> e.getRequestId().equals(chunk)),
            chunk + " has token events");
        assertTrue(
            reader.read(topics.tokenChunks()).stream()
                .noneMatch(c -> c.getRequestId().equals(token)),
            token + " has chunks");
        List<Integer> ids = new ArrayList<>();
        List<Float> logprobs = new ArrayList<>();
        List<Boolean> drafts = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < chunks.size(); i++) {
          TokenChunk c = chunks.get(i);
          assertEquals(ids.size(), c.getFirstIndex(), chunk + ": contiguous from 0");
          assertEquals(i == chunks.size() - 1, c.getFinishReason() != null, chunk + ": finish");
          ids.addAll(c.getTokenIds());
          logprobs.addAll(c.getLogprobs());
          drafts.addAll(c.getFromMtpDraft());
          text.append(c.getTextDelta());
        }
        assertEquals(events.stream().map(TokenEvent::getTokenId).toList(), ids, base);
        assertEquals(events.stream().map(TokenEvent::getLogprob).toList(), logprobs, base);
        assertEquals(events.stream().map(TokenEvent::getFromMtpDraft).toList(), drafts, base);
        assertEquals(
            String.join("", events.stream().map(TokenEvent::getTextDelta).toList()),
            text.toString(),
            base);
        assertEquals(
            events.get(events.size() - 1).getFinishReason(),
            chunks.get(chunks.size() - 1).getFinishReason(),
            base);
        assertEquals(reader.completions().get(chunk).getTokenIds(), ids, base);
        assertEquals(reader.completions().get(chunk).getText(), text.toString(), base);
      }
    }
  }

  private static PromptRequest.Builder sampled(PromptRequest.Builder prompt, List<String> stop) {
    return prompt.setSampling(
        SamplingParams.newBuilder()
            .setTemperature(0.9)
            .setSeed(7L)
            .setStop(stop)
            .setMaxNewTokens(24)
            .build());
  }

  @Test
  void aSecondTurnReusesTheSessionCacheAndEqualsAFreshRunOnTheHistory() throws Exception {
    publish(prompt("turn-1", "session-a", text("The jury said")).build());
    Completion first = completionOf("turn-1");
    publish(prompt("turn-2", "session-a", text(" The court")).build());
    Completion second = completionOf("turn-2");

    int[] history =
        concat(
            concat(
                model.tokenizer().encode("The jury said", true),
                first.getTokenIds().stream().mapToInt(Integer::intValue).toArray()),
            model.tokenizer().encode(" The court", false));
    assertArrayEquals(
        engineAlone(history, 24),
        second.getTokenIds().stream().mapToInt(Integer::intValue).toArray());
    assertEquals(history.length, second.getUsage().getPromptTokens());
    // The first turn's prompt and reply are cached, but for the reply's last token, which only
    // enters the cache when the second turn feeds it, unless it was an accepted MTP draft: a
    // verify step fed it already.
    int firstTurn =
        model.tokenizer().encode("The jury said", true).length + first.getTokenIds().size();
    List<TokenEvent> firstTokens =
        readUntil(
            topics.tokens(),
            list -> list.size() == first.getTokenIds().size(),
            event -> event.getRequestId().equals("turn-1"));
    boolean lastWasDraft = firstTokens.get(firstTokens.size() - 1).getFromMtpDraft();
    assertEquals(
        lastWasDraft ? firstTurn : firstTurn - 1, second.getUsage().getCachedPromptTokens());
  }

  /** Another tenant's turn with the same session id starts afresh: no history, no cache. */
  @Test
  void aSessionIdOfAnotherTenantDoesNotContinueItsSession() throws Exception {
    publish(prompt("acme-turn", "shared-id", text("The jury said")).build());
    Completion acme = completionOf("acme-turn");
    publish(prompt("rival-turn", "shared-id", text(" The court")).setTenant("rival").build());
    Completion rival = completionOf("rival-turn");
    int[] fresh = model.tokenizer().encode(" The court", true);
    assertEquals(fresh.length, rival.getUsage().getPromptTokens(), "only its own prompt, with BOS");
    assertEquals(0, rival.getUsage().getCachedPromptTokens());
    assertArrayEquals(
        engineAlone(fresh, 24), rival.getTokenIds().stream().mapToInt(Integer::intValue).toArray());
    assertTrue(acme.getUsage().getPromptTokens() > 0);
  }

  @Test
  void everyBadInputLandsInGenerationErrorsWhileValidPromptsComplete() {
    Map<String, ErrorCode> expected = new HashMap<>();
    publishRaw("garbage", new byte[] {0, 0, 0, 0, 1, 42, 42});
    publishRaw("wrong-magic", new byte[] {7, 0, 0, 0, 1, 2, 3});
    publishRaw("unknown-id", new byte[] {0, 0x7f, 0x7f, 0x7f, 0x7f, 2, 3});
    publish(prompt("", null, text("no id")).build());
    expected.put("", ErrorCode.MISSING_REQUEST_ID);
    publish(prompt("valid-1", null, text("It was")).build());
    publish(prompt("empty", null, text("")).build());
    expected.put("empty", ErrorCode.EMPTY_INPUT);
    publish(prompt("blank-session", "", text("x")).build()); // once failed the stream task
    expected.put("blank-session", ErrorCode.INVALID_REQUEST);
    publish(withSampling(prompt("zero-new", null, text("x")), 1.0, 1.0, 0).build());
    expected.put("zero-new", ErrorCode.INVALID_MAX_NEW_TOKENS);
    publish(withSampling(prompt("too-many-new", null, text("x")), 1.0, 1.0, 100_000).build());
    expected.put("too-many-new", ErrorCode.INVALID_MAX_NEW_TOKENS);
    publish(withSampling(prompt("cold", null, text("x")), -1.0, 1.0, 8).build());
    expected.put("cold", ErrorCode.INVALID_TEMPERATURE);
    publish(withSampling(prompt("nan", null, text("x")), Double.NaN, 1.0, 8).build());
    expected.put("nan", ErrorCode.INVALID_TEMPERATURE);
    publish(withSampling(prompt("top-p", null, text("x")), 1.0, 1.5, 8).build());
    expected.put("top-p", ErrorCode.INVALID_TOP_P);
    publish(
        prompt("vocab", null, TokenIdsInput.newBuilder().setTokenIds(List.of(0, 9_999_999)).build())
            .build());
    expected.put("vocab", ErrorCode.TOKEN_ID_OUT_OF_VOCAB);
    int[] longPrompt = new int[1500];
    publish(
        withSampling(
                prompt(
                    "overflow",
                    null,
                    TokenIdsInput.newBuilder()
                        .setTokenIds(Arrays.stream(longPrompt).boxed().toList())
                        .build()),
                0.0,
                1.0,
                1000)
            .build());
    expected.put("overflow", ErrorCode.CONTEXT_OVERFLOW);
    publish(prompt("valid-2", null, text("It was")).build());
    publish(prompt("valid-2", null, text("It was")).build());

    List<GenerationError> errors =
        readUntil(
            topics.generationErrors(),
            list -> list.size() >= expected.size() + 4,
            error ->
                error.getRequestId() == null
                    || expected.containsKey(error.getRequestId())
                    || error.getRequestId().equals("valid-2"));
    Map<ErrorCode, Integer> undecodable = new HashMap<>();
    for (GenerationError error : errors) {
      if (error.getRequestId() == null) {
        undecodable.merge(error.getCode(), 1, Integer::sum);
        assertNotNull(error.getOriginalValue(), "the original bytes travel with the error");
      } else if (error.getRequestId().equals("valid-2")) {
        assertEquals(ErrorCode.DUPLICATE_REQUEST_ID, error.getCode());
      } else {
        assertEquals(expected.get(error.getRequestId()), error.getCode(), error.getMessage());
      }
    }
    assertEquals(
        Map.of(
            ErrorCode.UNDECODABLE,
            1,
            ErrorCode.WRONG_MAGIC_BYTE,
            1,
            ErrorCode.UNKNOWN_SCHEMA_ID,
            1),
        undecodable);
    assertEquals("valid-1", completionOf("valid-1").getRequestId());
    assertEquals("valid-2", completionOf("valid-2").getRequestId());
  }

  private static PromptRequest.Builder withSampling(
      PromptRequest.Builder prompt, double temperature, double topP, int maxNewTokens) {
    return prompt.setSampling(
        SamplingParams.newBuilder()
            .setTemperature(temperature)
            .setTopP(topP)
            .setMaxNewTokens(maxNewTokens)
            .build());
  }

  private static int[] concat(int[] a, int[] b) {
    int[] both = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }
}
