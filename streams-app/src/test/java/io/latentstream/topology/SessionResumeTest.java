package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A session whose turns are in flight when its task moves (here: the instance stops and a new one
 * with an empty state directory restores the stores from their changelogs) continues: the first
 * waiting turn resumes, the later ones follow, every token index appears once.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class SessionResumeTest {
  private static final String PREFIX = "resume-test.";
  private static final List<String> TURNS = List.of("t1", "t2", "t3");

  /** How long each wait for the committed output may take. */
  private static final Duration READING = Duration.ofSeconds(120);

  @Test
  void aSessionsInFlightTurnsResumeOnTheNextInstance() throws Exception {
    EmbeddedSchemaRegistry registry = SharedKafkaCluster.registry("_schemas-resume-test");
    try (ServedModel model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults())) {
      Topics topics =
          Topics.create(
              PREFIX, new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
      SharedKafkaCluster.createTopics(Topics.newTopics(PREFIX, 1, (short) 1));
      // The first instance stops as soon as the engine emits t1's first token. Waiting for that
      // token to be read instead would race the engine: all three turns (~100 tokens) take it
      // ~0.4 s, about what a token takes to reach a read_committed reader.
      CountDownLatch firstToken = new CountDownLatch(1);
      PipelineObserver onFirstToken =
          new PipelineObserver() {
            @Override
            public void token(Request request, TokenEmission token, long sinceLastNanos) {
              firstToken.countDown();
            }
          };
      KafkaStreams first = start(topics, model, onFirstToken);
      try (KafkaProducer<String, PromptRequest> producer =
          new KafkaProducer<>(
              Map.of(
                  ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers()),
              new StringSerializer(),
              topics.prompts().valueSerde().serializer())) {
        for (String turn : TURNS) {
          producer.send(new ProducerRecord<>(topics.prompts().name(), "s", prompt(turn)));
        }
      }
      assertTrue(firstToken.await(120, TimeUnit.SECONDS), "no token within 120 s");
      first.close(Duration.ofSeconds(30));
      EventReader atClose = EventReader.committed(topics.tokens(), topics.completions());
      atClose.pollUntil(
          READING, atClose::caughtUp, () -> "timed out waiting for the committed output");
      assertTrue(
          atClose.completions().size() < TURNS.size(),
          "every turn completed before the restart; nothing was in flight");

      EventReader seen = EventReader.committed(topics.tokens(), topics.completions());
      KafkaStreams second = start(topics, model, PipelineObserver.NONE);
      try {
        seen.pollUntil(
            READING,
            () -> seen.completions().keySet().containsAll(TURNS),
            () -> "timed out waiting for every turn's completion");
        seen.pollUntil(
            READING,
            () ->
                TURNS.stream()
                    .allMatch(
                        t -> seen.tokenCount(t) == seen.completions().get(t).getTokenIds().size()),
            () -> "timed out waiting for every turn's tokens");
        for (String turn : TURNS) {
          List<Integer> indices = seen.indices(turn);
          for (int i = 0; i < indices.size(); i++) {
            assertEquals(i, indices.get(i), turn + ": indices 0..n-1 exactly once");
          }
        }
      } finally {
        second.close(Duration.ofSeconds(30));
        seen.close();
        atClose.close();
      }
    } finally {
      registry.stop();
    }
  }

  /** An instance with an empty state directory: its stores come from the changelogs. */
  private static KafkaStreams start(Topics topics, ServedModel model, PipelineObserver observer)
      throws Exception {
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, TopologySettings.defaults(), observer);
    Properties config =
        StreamsSettings.of(
            "resume-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("resume"),
            1);
    // A closed instance stays in the group until its session times out: take over in seconds.
    config.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
    config.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
    KafkaStreams streams = new KafkaStreams(builder.build(), config);
    streams.start();
    return streams;
  }

  private static PromptRequest prompt(String id) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId("s")
        .setTenant("acme")
        .setInput(
            ChatInput.newBuilder()
                .setMessages(
                    List.of(
                        ChatMessage.newBuilder()
                            .setRole("user")
                            .setContent("Tell me what the jury said, turn " + id)
                            .build()))
                .build())
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(0.9)
                .setSeed(11L)
                .setMaxNewTokens(64)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }
}
