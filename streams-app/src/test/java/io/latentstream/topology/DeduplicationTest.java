package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.replay.Replay;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A request id is generated at most once whatever partition its prompts arrive on, on a real broker
 * with three partitions: the same id published on every partition, as a one-off request and as
 * turns of sessions that hash elsewhere, generates once; every other publication gets one
 * DUPLICATE_REQUEST_ID error naming its record, and a session whose turn was refused goes on with
 * its next turn. Replay of the log refuses the same publications.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DeduplicationTest {
  @Test
  void anIdPublishedOnEveryPartitionGeneratesOnce() throws Exception {
    EmbeddedSchemaRegistry registry = SharedKafkaCluster.registry("_schemas-dedup-test");
    Topics topics =
        Topics.create(
            "dedup-test.",
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    SharedKafkaCluster.createTopics(Topics.newTopics(topics.prefix(), 3, (short) 1));
    ServedModel model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, TopologySettings.defaults());
    Properties config =
        StreamsSettings.of(
            "dedup-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("dedup"),
            1);
    try (KafkaStreams streams = new KafkaStreams(builder.build(), config)) {
      streams.start();
      // The id on each partition as a one-off request, then as turn 1 of two sessions.
      List<ProducerRecord<String, PromptRequest>> sent = new ArrayList<>();
      String name = topics.prompts().name();
      for (int p = 0; p < 3; p++) {
        sent.add(new ProducerRecord<>(name, p, "key-" + p, prompt("same-id", null)));
      }
      sent.add(new ProducerRecord<>(name, 1, "chat-x", prompt("same-id", "chat-x")));
      sent.add(new ProducerRecord<>(name, 1, "chat-x", prompt("chat-x-2", "chat-x")));
      sent.add(new ProducerRecord<>(name, 2, "chat-y", prompt("same-id", "chat-y")));
      Map<String, Integer> partitionOf = new HashMap<>();
      List<String> offsets = new ArrayList<>();
      try (KafkaProducer<String, PromptRequest> producer =
          new KafkaProducer<>(
              Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
              new StringSerializer(),
              topics.prompts().valueSerde().serializer())) {
        for (ProducerRecord<String, PromptRequest> record : sent) {
          var m = producer.send(record).get();
          offsets.add(m.partition() + "@" + m.offset());
          partitionOf.put(record.value().getRequestId(), m.partition());
        }
      }
      try (EventReader outputs =
          EventReader.committed(topics.tokens(), topics.completions(), topics.generationErrors())) {
        List<GenerationError> duplicates = outputs.read(topics.generationErrors());
        outputs.pollUntil(
            Duration.ofSeconds(120),
            () -> {
              for (GenerationError e : duplicates) {
                assertEquals(ErrorCode.DUPLICATE_REQUEST_ID, e.getCode(), e.getMessage());
                assertEquals("same-id", e.getRequestId());
                assertTrue(offsets.contains(e.getSourcePartition() + "@" + e.getSourceOffset()));
              }
              return duplicates.size() >= 4 && outputs.completions().size() >= 2;
            },
            () ->
                "completions "
                    + outputs.completionCounts()
                    + ", duplicates refused "
                    + duplicates.size());
        // Then 3 s more for a second generation of the id, were there one.
        outputs.pollFor(Duration.ofSeconds(3));
        assertEquals(Map.of("same-id", 1, "chat-x-2", 1), outputs.completionCounts());
        assertEquals(4, duplicates.size(), "one refusal per other publication");
        List<Integer> same = outputs.indices("same-id");
        for (int i = 0; i < same.size(); i++) {
          assertEquals(i, same.get(i), "one token per index: " + same);
        }
      }
      streams.close(Duration.ofSeconds(30));

      // Replay refuses the same publications, whichever partition it reads first.
      Replay.Report report =
          new Replay(
                  model,
                  topics,
                  Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
                  TopologySettings.defaults().limits())
              .verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
      assertEquals(List.of(), report.diverging());
      assertEquals(2, report.identical(), "same-id once, chat-x-2");
      assertEquals(4, report.refused(), "the duplicates");
    } finally {
      model.close();
      registry.stop();
    }
  }

  private static PromptRequest prompt(String id, String session) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(TextInput.newBuilder().setText("The jury said").build())
        .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(8).build())
        .setCreatedAt(Instant.now())
        .build();
  }
}
