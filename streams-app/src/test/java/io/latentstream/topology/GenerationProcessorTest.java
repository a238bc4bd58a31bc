package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.schemas.TokenIdsInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.SharedModels;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.StateStore;
import org.apache.kafka.streams.processor.TaskId;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.StoreBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The generation processor under Kafka's TopologyTestDriver: real RocksDB stores, the real engine
 * and registry protocol (in-memory registry storage), the wall clock driven by the test.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GenerationProcessorTest {
  private static EmbeddedSchemaRegistry registry;
  private static ServedModel model;
  private static Topics topics;
  private TopologyTestDriver driver;
  private TestInputTopic<String, PromptRequest> prompts;
  private TestOutputTopic<String, TokenEvent> tokens;
  private TestOutputTopic<String, TokenChunk> chunks;
  private TestOutputTopic<String, Completion> completions;
  private TestOutputTopic<String, GenerationError> errors;
  private final List<Completion> completed = new ArrayList<>();
  private final List<TokenEvent> forwarded = new ArrayList<>();
  private final List<TokenChunk> forwardedChunks = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    registry = EmbeddedSchemaRegistry.inMemory().start();
    topics =
        Topics.create(
            "unit.", new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
  }

  @AfterAll
  static void stop() {
    model.close();
    registry.stop();
  }

  @BeforeEach
  void startDriver() throws Exception {
    drive(model, TopologySettings.defaults(), PipelineObserver.NONE);
  }

  /** Replaces the test driver by one of the topology on {@code model} with {@code settings}. */
  private void drive(ServedModel model, TopologySettings settings, PipelineObserver observer)
      throws Exception {
    if (driver != null) {
      driver.close();
    }
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, settings, observer);
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, "processor-test");
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    config.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("processor").toString());
    driver = new TopologyTestDriver(builder.build(), config);
    prompts =
        driver.createInputTopic(
            topics.prompts().name(),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer());
    tokens = output(topics.tokens());
    chunks = output(topics.tokenChunks());
    completions = output(topics.completions());
    errors = output(topics.generationErrors());
  }

  /** The default settings but for these. */
  private static TopologySettings settings(int maxWaiting, TokenEventForm tokenEvents) {
    TopologySettings defaults = TopologySettings.defaults();
    return new TopologySettings(
        defaults.limits(),
        defaults.emitInterval(),
        defaults.sessionTtl(),
        defaults.sessionCacheMaxBytes(),
        defaults.requestIdRetention(),
        maxWaiting,
        defaults.maxOutputRecordBytes(),
        tokenEvents);
  }

  private <V> TestOutputTopic<String, V> output(Topics.Topic<String, V> topic) {
    return driver.createOutputTopic(
        topic.name(), new StringDeserializer(), topic.valueSerde().deserializer());
  }

  @AfterEach
  void closeDriver() {
    driver.close();
  }

  private static PromptRequest prompt(String requestId, String session, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(TokenIdsInput.newBuilder().setTokenIds(List.of(0, 478, 4717, 557)).build())
        .setSampling(
            SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(maxNewTokens).build())
        .setCreatedAt(Instant.now())
        .build();
  }

  /** Advances the wall clock (each step a punctuation) until {@code done}, collecting outputs. */
  private void punctuateUntil(BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!done.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "the processor produced nothing in time");
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(10));
      forwarded.addAll(tokens.readValuesToList());
      forwardedChunks.addAll(chunks.readValuesToList());
      completed.addAll(completions.readValuesToList());
    }
  }

  /**
   * Kafka Streams commits a task after each of its punctuations: the emitting one runs only while
   * the task has requests in the loop, so an idle instance commits no (empty) transactions.
   */
  @Test
  void theEmitPunctuationRunsOnlyWhileRequestsAreInTheLoop() throws Exception {
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, "punctuation-test");
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    MockProcessorContext<String, Object> context =
        new MockProcessorContext<>(
            config, new TaskId(0, 0), Files.createTempDirectory("punctuation").toFile());
    ProcessorSupplier<String, Arrival, String, Object> supplier =
        LatentstreamTopology.generate(
            topics, model, TopologySettings.defaults(), PipelineObserver.NONE);
    List<StateStore> stores = new ArrayList<>();
    for (StoreBuilder<?> builder : supplier.stores()) {
      StateStore store = builder.withLoggingDisabled().withCachingDisabled().build();
      store.init(context.getStateStoreContext(), store);
      stores.add(store);
    }
    Processor<String, Arrival, String, Object> processor = supplier.get();
    try {
      processor.init(context);
      Duration emitInterval = TopologySettings.defaults().emitInterval();
      assertTrue(
          context.scheduledPunctuators().stream()
              .noneMatch(p -> p.getInterval().equals(emitInterval)),
          "no emit punctuation while nothing is in the loop");

      context.setRecordMetadata(topics.prompts().name(), 0, 0);
      context.setCurrentSystemTimeMs(System.currentTimeMillis());
      PromptRequest prompt = prompt("r", null, 5);
      byte[] bytes = topics.prompts().valueSerde().serializer().serialize("prompts", prompt);
      ValidPrompt valid =
          PromptValidator.of(model, PromptLimits.defaults(), TokenEventForm.TOKEN).validate(prompt);
      processor.process(new Record<>("r", new Arrival.Prompt(valid, bytes), 0L));
      assertTrue(
          context.scheduledPunctuators().stream()
              .noneMatch(p -> p.getInterval().equals(emitInterval)),
          "nothing generates before the request id's claim is granted");
      Claims.Claim claim =
          (Claims.Claim)
              context.forwarded().stream()
                  .filter(f -> LatentstreamTopology.REQUEST_CLAIMS.equals(f.childName().orElse("")))
                  .findFirst()
                  .orElseThrow()
                  .record()
                  .value();
      assertEquals(new Claims.Claim("r", 0, 0), claim);
      context.setRecordMetadata(topics.requestVerdicts().name(), 0, 0);
      Arrival granted = new Arrival.Verdict(new Claims.Verdict(claim, true));
      processor.process(new Record<>("r", granted, 0L));
      MockProcessorContext.CapturedPunctuator emit =
          context.scheduledPunctuators().stream()
              .filter(p -> p.getInterval().equals(emitInterval))
              .findFirst()
              .orElseThrow();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (context.forwarded().stream()
          .noneMatch(f -> f.record().value() instanceof Completion)) {
        assertTrue(System.nanoTime() < deadline, "the request did not complete in time");
        Thread.sleep(5);
        context.setCurrentSystemTimeMs(System.currentTimeMillis());
        emit.getPunctuator().punctuate(context.currentSystemTimeMs());
      }
      assertTrue(
          emit.cancelled(), "the emit punctuation stops once the loop is done with the task");
    } finally {
      processor.close();
      stores.forEach(StateStore::close);
    }
  }

  @Test
  void aPromptYieldsItsTokensInOrderThenItsCompletion() throws Exception {
    prompts.pipeInput("a", prompt("a", null, 6));
    punctuateUntil(() -> !completed.isEmpty());
    assertEquals(6, completed.get(0).getTokenIds().size());
    assertEquals(6, forwarded.size());
    for (int i = 0; i < forwarded.size(); i++) {
      assertEquals(i, forwarded.get(i).getIndex());
      assertEquals(completed.get(0).getTokenIds().get(i), forwarded.get(i).getTokenId());
    }
  }

  /**
   * Under a deployment of form CHUNK, a request's tokens leave as chunks only: each punctuation's
   * tokens one chunk, first_index contiguous from 0, the finish reason on the last alone, the ids
   * those of the completion.
   */
  @Test
  void aChunkFormDeploymentForwardsEachPunctuationsTokensAsOneChunk() throws Exception {
    int maxWaiting = TopologySettings.defaults().maxWaiting();
    drive(model, settings(maxWaiting, TokenEventForm.CHUNK), PipelineObserver.NONE);
    prompts.pipeInput("c", prompt("c", null, 12));
    punctuateUntil(() -> !completed.isEmpty());
    assertEquals(List.of(), forwarded, "no token events for a chunk-form request");
    List<Integer> ids = new ArrayList<>();
    for (TokenChunk chunk : forwardedChunks) {
      assertEquals(ids.size(), chunk.getFirstIndex(), "each chunk starts where the last ended");
      assertTrue(!chunk.getTokenIds().isEmpty());
      assertEquals(chunk.getTokenIds().size(), chunk.getLogprobs().size());
      assertEquals(chunk.getTokenIds().size(), chunk.getFromMtpDraft().size());
      ids.addAll(chunk.getTokenIds());
      boolean last = ids.size() == completed.get(0).getTokenIds().size();
      assertEquals(last, chunk.getFinishReason() != null, "the finish reason on the last only");
    }
    assertEquals(completed.get(0).getTokenIds(), ids);
    assertEquals(
        completed.get(0).getText(),
        String.join("", forwardedChunks.stream().map(TokenChunk::getTextDelta).toList()));
  }

  @Test
  void aDuplicateRequestIdIsRefusedAndGeneratedOnce() throws Exception {
    prompts.pipeInput("d", prompt("d", null, 4));
    prompts.pipeInput("d", prompt("d", null, 4));
    punctuateUntil(() -> !completed.isEmpty());
    prompts.pipeInput("d", prompt("d", null, 4)); // after completion too
    List<GenerationError> refused = errors.readValuesToList();
    assertEquals(2, refused.size());
    refused.forEach(error -> assertEquals(ErrorCode.DUPLICATE_REQUEST_ID, error.getCode()));
    int[] rounds = {0};
    punctuateUntil(() -> ++rounds[0] > 50); // time for a second generation, were there one
    assertEquals(1, completed.size());
  }

  @Test
  void turnsOfOneSessionRunInOrderAndTheSecondContinuesTheFirst() throws Exception {
    prompts.pipeInput("s", prompt("turn-1", "s", 5));
    prompts.pipeInput("s", prompt("turn-2", "s", 5)); // queued behind turn 1
    punctuateUntil(() -> completed.size() == 2);
    assertEquals("turn-1", completed.get(0).getRequestId());
    assertEquals("turn-2", completed.get(1).getRequestId());
    // turn 2's prompt is turn 1's prompt and reply plus its own four tokens
    assertEquals(4 + 5 + 4, completed.get(1).getUsage().getPromptTokens());
    // All of turn 1 but its last token, which enters the cache when turn 2 feeds it, unless it was
    // an accepted MTP draft (a verify step fed it already).
    TokenEvent last =
        forwarded.stream()
            .filter(event -> event.getRequestId().equals("turn-1"))
            .reduce((a, b) -> b)
            .orElseThrow();
    assertEquals(
        4 + 5 - (last.getFromMtpDraft() ? 0 : 1),
        completed.get(1).getUsage().getCachedPromptTokens());
  }

  /**
   * Admission control: with room for one request in the loop (max-running 1, max-waiting 0), a
   * backlog of one-off requests and session turns waits outside the loop, in the in-flight store,
   * and all of it completes, one at a time, one-offs in prompt order.
   */
  @Test
  void aBacklogWaitsOutsideTheLoopUntilThereIsRoom() throws Exception {
    try (ServedModel narrow =
        ServedModel.load(
            SharedModels.model("brown-mtp"),
            "brown-mtp",
            new GenerationLoop.Settings(1, 512, true))) {
      TopologySettings oneAtATime = settings(0, TopologySettings.defaults().tokenEvents());
      java.util.concurrent.atomic.AtomicInteger inLoop =
          new java.util.concurrent.atomic.AtomicInteger();
      java.util.concurrent.atomic.AtomicInteger mostInLoop =
          new java.util.concurrent.atomic.AtomicInteger();
      PipelineObserver counting =
          new PipelineObserver() {
            @Override
            public void started(Request request, int promptTokens) {
              mostInLoop.accumulateAndGet(inLoop.incrementAndGet(), Math::max);
            }

            @Override
            public void finished(
                Request request, io.latentstream.scheduler.GenerationOutcome outcome) {
              inLoop.decrementAndGet();
            }
          };
      drive(narrow, oneAtATime, counting);
      for (int i = 0; i < 6; i++) {
        prompts.pipeInput("q" + i, prompt("queued-" + i, i % 3 == 2 ? "chat-q" : null, 3));
      }
      punctuateUntil(() -> completed.size() == 6);
      assertEquals(1, mostInLoop.get(), "never more than max-running plus max-waiting in the loop");
      List<String> oneOffs =
          completed.stream()
              .map(Completion::getRequestId)
              .filter(id -> !id.equals("queued-2") && !id.equals("queued-5"))
              .toList();
      assertEquals(List.of("queued-0", "queued-1", "queued-3", "queued-4"), oneOffs);
    }
  }

  /** Every line the processor logs about a request carries its request id and session id. */
  @Test
  void everyLogLineAboutARequestNamesItsRequestAndSession() throws Exception {
    ch.qos.logback.classic.Logger logger =
        (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(GenerationProcessor.class);
    ListAppender<ILoggingEvent> lines = new ListAppender<>();
    lines.start();
    logger.addAppender(lines);
    try {
      prompts.pipeInput("s", prompt("log-1", "chat-log", 3));
      prompts.pipeInput("s", prompt("log-2", "chat-log", 3)); // waits for log-1
      prompts.pipeInput("s", prompt("log-1", "chat-log", 3)); // refused: a duplicate
      punctuateUntil(() -> completed.size() == 2);
    } finally {
      logger.detachAppender(lines);
    }
    List<ILoggingEvent> events = lines.list;
    assertTrue(events.size() >= 6, "logged " + events.size() + " lines");
    for (ILoggingEvent event : events) {
      String requestId = event.getMDCPropertyMap().get("requestId");
      assertTrue(
          "log-1".equals(requestId) || "log-2".equals(requestId),
          "no request id: " + event.getFormattedMessage());
      assertEquals("chat-log", event.getMDCPropertyMap().get("sessionId"));
    }
    assertTrue(
        events.stream()
            .anyMatch(
                e ->
                    "log-2".equals(e.getMDCPropertyMap().get("requestId"))
                        && e.getFormattedMessage().startsWith("finished")));
    assertNull(MDC.get("requestId"), "the context is cleared after each request");
  }
}
