package io.latentstream.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import io.latentstream.topology.LatentstreamTopology;
import io.latentstream.topology.StreamsSettings;
import io.latentstream.topology.Topics;
import io.latentstream.topology.TopologySettings;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
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
 * Audit replay on a real broker: a run recorded through the topology (one-off greedy and sampled
 * requests, one without a seed, a two-turn chat session, a refused prompt and a duplicate, then a
 * session turn after its session expired and a request id reused after its retention; the chat's
 * first turn and the reused id's second generation with chunks, the rest with token events) replays
 * identically; a tampered token, of an event or of a chunk, is reported at its index, as is a chunk
 * out of place; another weights digest is refused.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ReplayTest {
  private static final Set<String> FIRST_WAVE = Set.of("greedy", "sampled", "unseeded", "c1", "c2");
  private static final Set<String> REQUESTS =
      Set.of("greedy", "sampled", "unseeded", "c1", "c2", "e1", "e2");

  /** Short lifetimes, so that the run can outlive a session and a request id. */
  private static final Duration LIFETIME = Duration.ofSeconds(3);

  /** Every request, plus "greedy" a second time after its id expired. */
  private static final int GENERATIONS = REQUESTS.size() + 1;

  private static EmbeddedSchemaRegistry registry;
  private static SchemaRegistryClient client;
  private static Topics topics;
  private static ServedModel model;
  private static KafkaStreams streams;

  @BeforeAll
  static void recordARun() throws Exception {
    registry = SharedKafkaCluster.registry("_schemas-replay-test");
    client = new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
    topics = Topics.create("replay-test.", client);
    SharedKafkaCluster.createTopics(Topics.newTopics("replay-test.", 2, (short) 1));
    model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
    StreamsBuilder builder = new StreamsBuilder();
    TopologySettings defaults = TopologySettings.defaults();
    TopologySettings settings =
        new TopologySettings(
            defaults.limits(),
            defaults.emitInterval(),
            LIFETIME,
            defaults.sessionCacheMaxBytes(),
            LIFETIME,
            defaults.maxWaiting(),
            defaults.maxOutputRecordBytes(),
            defaults.tokenEvents());
    LatentstreamTopology.build(builder, topics, model, settings);
    Properties config =
        StreamsSettings.of(
            "replay-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("replay"),
            1);
    streams = new KafkaStreams(builder.build(), config);
    streams.start();

    publish(
        prompt("greedy", null, text("The jury said"), 0.0, 12L),
        prompt("sampled", null, text("It was"), 0.9, 7L),
        prompt("unseeded", null, text("The court"), 1.0, null),
        chunked(prompt("c1", "chat-1", chat("Tell me about the jury"), 0.8, 3L)),
        prompt("c2", "chat-1", chat("And then?"), 0.0, null),
        prompt("refused", null, text("x"), -1.0, null),
        prompt("greedy", null, text("A duplicate id"), 0.0, null),
        prompt("e1", "expiring", chat("Who said it?"), 0.7, 5L));
    Map<String, Completion> done = new HashMap<>();
    readCompletions(FIRST_WAVE.size() + 1)
        .forEach(completion -> done.put(completion.getRequestId(), completion));
    assertEquals(REQUESTS.size() - 1, done.size(), "all but e2: " + done.keySet());

    // Outlive the session and the id "greedy" (and an eviction pass, a tenth of the lifetime).
    Thread.sleep(LIFETIME.plus(LIFETIME.dividedBy(2)).toMillis());
    publish(
        prompt("e2", "expiring", chat("And who answered?"), 0.0, null),
        chunked(prompt("greedy", null, text("The same id, later"), 0.6, 9L)));
    List<Completion> all = readCompletions(GENERATIONS);
    Completion e1 = done.get("e1");
    Completion e2 =
        all.stream().filter(c -> c.getRequestId().equals("e2")).findFirst().orElseThrow();
    assertTrue(
        e2.getUsage().getPromptTokens()
            < e1.getUsage().getPromptTokens() + e1.getUsage().getCompletionTokens(),
        "e2 started a new session: " + e2.getUsage());
  }

  private static void publish(PromptRequest... prompts) {
    SharedKafkaCluster.publish(topics, prompts);
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

  @Test
  void replayingTheRecordedRunReproducesEveryToken() throws Exception {
    Replay.Report report =
        replay(topics, model)
            .verify(Replay.Range.all(), Replay.Allow.NOTHING, "replay-test.regenerated");
    assertEquals(List.of(), report.diverging());
    assertEquals(GENERATIONS, report.checked());
    assertEquals(GENERATIONS, report.identical());
    assertEquals(2, report.refused(), "the invalid prompt and the duplicate id");
    assertEquals(1, report.restartedSessions(), "e2's session had expired");
    assertEquals(1, report.reacceptedIds(), "greedy's id had expired");

    // Regenerated events take the form of the recorded ones.
    int recordedTokens = readAllValues(topics.tokens().name()).size();
    assertEquals(recordedTokens, readAllValues("replay-test.regenerated").size());
    int chunkedTokens = chunkTokens(topics, topics.tokenChunks().name());
    assertTrue(chunkedTokens > 0, "c1 and the second greedy recorded chunks");
    assertEquals(
        chunkedTokens,
        chunkTokens(topics, Replay.chunksTopic("replay-test.regenerated")),
        "the chunk-form requests' tokens, regenerated as chunks");

    // One later turn alone: its history comes from the recorded first turn.
    Replay.Report second =
        replay(topics, model)
            .verify(
                new Replay.Range(0, Long.MAX_VALUE, null, null, "c2"), Replay.Allow.NOTHING, null);
    assertEquals(1, second.checked());
    assertEquals(1, second.identical());
  }

  @Test
  void aTamperedTokenIsReportedAtItsIndex() throws Exception {
    Topics tampered =
        copyOfTheLog(
            "replay-tampered.",
            event -> {
              if (event.getRequestId().equals("sampled") && event.getIndex() == 3) {
                event.setTokenId((event.getTokenId() + 1) % model.engine().config().vocabSize());
              }
            },
            chunk -> {});
    Replay.Report report =
        replay(tampered, model).verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
    assertEquals(GENERATIONS, report.checked());
    assertEquals(GENERATIONS - 1, report.identical());
    assertEquals(1, report.diverging().size());
    assertEquals("sampled", report.diverging().get(0).requestId());
    assertEquals(3, report.diverging().get(0).index(), report.diverging().get(0).toString());
  }

  /**
   * In a log with chunks, a chunk's altered token is reported at its own index (its chunk's
   * first_index plus its place there), and a chunk that does not start where the previous one of
   * its request ended is reported where the record stops running 0..n-1.
   */
  @Test
  void aTamperedChunkIsReportedAtTheIndexOfItsToken() throws Exception {
    Topics tampered =
        copyOfTheLog(
            "replay-chunk-tampered.",
            event -> {},
            chunk -> {
              int at = 5 - chunk.getFirstIndex(); // c1's token 5, whichever chunk holds it
              if (chunk.getRequestId().equals("c1") && at >= 0 && at < chunk.getTokenIds().size()) {
                List<Integer> ids = new ArrayList<>(chunk.getTokenIds());
                ids.set(at, (ids.get(at) + 1) % model.engine().config().vocabSize());
                chunk.setTokenIds(ids);
              } else if (chunk.getRequestId().equals("greedy") && chunk.getFirstIndex() == 0) {
                chunk.setFirstIndex(1); // the second generation's first chunk, one place late
              }
            });
    Replay.Report report =
        replay(tampered, model).verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
    assertEquals(GENERATIONS, report.checked());
    assertEquals(GENERATIONS - 2, report.identical(), report.diverging().toString());
    assertTrue(!report.ok());
    Map<String, Replay.Divergence> byRequest = new HashMap<>();
    report.diverging().forEach(d -> byRequest.put(d.requestId(), d));
    Replay.Divergence token = byRequest.get("c1");
    assertEquals(5, token.index(), token.toString());
    assertTrue(token.detail().startsWith("recorded token "), token.toString());
    Replay.Divergence misplaced = byRequest.get("greedy");
    assertEquals(0, misplaced.index(), misplaced.toString());
    assertTrue(misplaced.detail().contains("holds index 1"), misplaced.toString());
  }

  @Test
  void anotherWeightsDigestIsRefusedUnlessAllowed() {
    ServedModel other =
        new ServedModel(
            model.engine(),
            model.tokenizer(),
            model.loop(),
            model.modelId(),
            "sha256:0000",
            model.engineVersion());
    Replay.MismatchException refused =
        assertThrows(
            Replay.MismatchException.class,
            () -> replay(topics, other).verify(Replay.Range.all(), Replay.Allow.NOTHING, null));
    assertTrue(refused.getMessage().contains("sha256:0000"), refused.getMessage());
    assertTrue(
        replay(topics, other).verify(Replay.Range.all(), new Replay.Allow(true, false), null).ok());
  }

  /**
   * The recorded log copied under {@code prefix}, each token event edited by {@code edit}, each
   * chunk by {@code editChunk}.
   */
  private static Topics copyOfTheLog(
      String prefix, Consumer<TokenEvent> edit, Consumer<TokenChunk> editChunk) throws Exception {
    Topics tampered = Topics.create(prefix, client);
    SharedKafkaCluster.createTopics(Topics.newTopics(prefix, 2, (short) 1));
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers()),
            new StringSerializer(),
            new ByteArraySerializer())) {
      for (ConsumerRecord<String, byte[]> record : readAllValues(topics.prompts().name())) {
        producer.send(
            new ProducerRecord<>(
                tampered.prompts().name(), record.partition(), record.key(), record.value()));
      }
      for (ConsumerRecord<String, byte[]> record : readAllValues(topics.completions().name())) {
        producer.send(
            new ProducerRecord<>(tampered.completions().name(), record.key(), record.value()));
      }
      for (ConsumerRecord<String, byte[]> record :
          readAllValues(topics.generationErrors().name())) {
        GenerationError error =
            topics
                .generationErrors()
                .valueSerde()
                .deserializer()
                .deserialize(record.topic(), record.value());
        error.setSourceTopic(tampered.prompts().name()); // the copy's prompts, same offsets
        producer.send(
            new ProducerRecord<>(
                tampered.generationErrors().name(),
                record.key(),
                tampered
                    .generationErrors()
                    .valueSerde()
                    .serializer()
                    .serialize(tampered.generationErrors().name(), error)));
      }
      for (ConsumerRecord<String, byte[]> record : readAllValues(topics.tokens().name())) {
        TokenEvent event =
            topics.tokens().valueSerde().deserializer().deserialize(record.topic(), record.value());
        edit.accept(event);
        producer.send(
            new ProducerRecord<>(
                tampered.tokens().name(),
                record.key(),
                tampered
                    .tokens()
                    .valueSerde()
                    .serializer()
                    .serialize(tampered.tokens().name(), event)));
      }
      for (ConsumerRecord<String, byte[]> record : readAllValues(topics.tokenChunks().name())) {
        TokenChunk chunk = chunk(topics, record);
        editChunk.accept(chunk);
        producer.send(
            new ProducerRecord<>(
                tampered.tokenChunks().name(),
                record.key(),
                tampered
                    .tokenChunks()
                    .valueSerde()
                    .serializer()
                    .serialize(tampered.tokenChunks().name(), chunk)));
      }
    }
    return tampered;
  }

  private static TokenChunk chunk(Topics topics, ConsumerRecord<String, byte[]> record) {
    return topics
        .tokenChunks()
        .valueSerde()
        .deserializer()
        .deserialize(record.topic(), record.value());
  }

  /** How many tokens the chunks of {@code topic} hold. */
  private static int chunkTokens(Topics topics, String topic) {
    return readAllValues(topic).stream()
        .mapToInt(record -> chunk(topics, record).getTokenIds().size())
        .sum();
  }

  @Test
  void anotherBackendsRecordIsRefusedUnlessAllowedAndItsDivergencesAreExpected() throws Exception {
    Topics cuda =
        copyOfTheLog(
            "replay-cuda.",
            event -> {
              event.setBackend("cuda");
              if (event.getRequestId().equals("sampled") && event.getIndex() == 2) {
                event.setTokenId((event.getTokenId() + 1) % model.engine().config().vocabSize());
              }
            },
            chunk -> chunk.setBackend("cuda"));
    Map<String, Object> kafka = Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers());
    assertEquals(Set.of("cpu"), Replay.recordedBackends(topics, kafka, Replay.Range.all()));
    assertEquals(Set.of("cuda"), Replay.recordedBackends(cuda, kafka, Replay.Range.all()));

    Replay.MismatchException refused =
        assertThrows(
            Replay.MismatchException.class,
            () -> replay(cuda, model).verify(Replay.Range.all(), Replay.Allow.NOTHING, null));
    assertTrue(refused.getMessage().contains("--backend cuda"), refused.getMessage());

    Replay.Report report =
        replay(cuda, model).verify(Replay.Range.all(), new Replay.Allow(false, true), null);
    assertEquals(GENERATIONS, report.checked());
    assertEquals(1, report.diverging().size(), report.diverging().toString());
    Replay.Divergence d = report.diverging().get(0);
    assertTrue(d.expected(), d.toString());
    assertTrue(d.toString().contains("generated on cuda, replayed on cpu"), d.toString());
    assertTrue(report.ok(), "an expected divergence is not a failed audit");
  }

  private static Replay replay(Topics topics, ServedModel model) {
    return new Replay(
        model,
        topics,
        Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
        TopologySettings.defaults().limits());
  }

  private static PromptRequest prompt(
      String id, String session, Object input, double temperature, Long seed) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(input)
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(temperature)
                .setSeed(seed)
                .setMaxNewTokens(12)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private static PromptRequest chunked(PromptRequest prompt) {
    return PromptRequest.newBuilder(prompt).setTokenEvents(TokenEventForm.CHUNK).build();
  }

  private static TextInput text(String text) {
    return TextInput.newBuilder().setText(text).build();
  }

  private static ChatInput chat(String user) {
    return ChatInput.newBuilder()
        .setMessages(List.of(ChatMessage.newBuilder().setRole("user").setContent(user).build()))
        .build();
  }

  /** The first {@code count} completions read (at least), from the start of the topic. */
  private static List<Completion> readCompletions(int count) {
    try (EventReader reader = EventReader.committed(topics.completions())) {
      return reader.readAtLeast(topics.completions(), count, Duration.ofSeconds(150));
    }
  }

  /** Every committed record of a topic, as bytes. */
  private static List<ConsumerRecord<String, byte[]>> readAllValues(String topic) {
    List<ConsumerRecord<String, byte[]>> read = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer =
        SharedKafkaCluster.committedReader(new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        consumer.poll(Duration.ofMillis(200)).forEach(read::add);
      }
    }
    return read;
  }
}
