package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.AvroSerdes;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.replay.Replay;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.schemas.Completion;
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
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
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
 * A deployment serving tenants a and b, each with topics of its own, on a real broker: a prompt's
 * tenant is the topic it came from. Tenant b using a's session id and a's request id gets a session
 * and a request of its own (nothing of a's history or cache); a prompt on b's topic whose tenant
 * field names a is refused (TENANT_MISMATCH) on b's error topic and continues nothing of a's; a's
 * second turn continues a's session from its cache; a duplicate id is refused within its tenant.
 * Each event lands on its tenant's topics only, the observer (metrics) sees each tenant's own, and
 * each tenant's replay of its topics reproduces them.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TenantsTest {
  private static final String PREFIX = "tenants-test.";

  /** What the observer was told, by tenant: started request ids and refused codes. */
  private final Map<String, List<String>> started = new ConcurrentHashMap<>();

  private final Map<String, List<ErrorCode>> refused = new ConcurrentHashMap<>();

  private final PipelineObserver observer =
      new PipelineObserver() {
        @Override
        public void finished(Request request, GenerationOutcome outcome) {
          started
              .computeIfAbsent(request.tenant(), t -> new ArrayList<>())
              .add(request.requestId());
        }

        @Override
        public void refused(String tenant, ErrorCode code) {
          refused.computeIfAbsent(tenant, t -> new ArrayList<>()).add(code);
        }
      };

  @Test
  void eachTenantsRequestsSessionsAndEventsAreItsOwn() throws Exception {
    EmbeddedSchemaRegistry registry = SharedKafkaCluster.registry("_schemas-tenants-test");
    SchemaRegistryClient client =
        new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
    List<String> tenants = List.of("a", "b");
    Topics topics = Topics.create(PREFIX, tenants, client, AvroSerdes.Config.VALUES);
    Topics a = topics.tenant("a");
    Topics b = topics.tenant("b");
    assertEquals(PREFIX + "a.prompts", a.prompts().name());
    assertEquals(PREFIX + "request-claims", a.requestClaims().name());
    SharedKafkaCluster.createTopics(Topics.newTopics(PREFIX, tenants, 2, (short) 1));
    ServedModel model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, TopologySettings.defaults(), observer);
    Properties config =
        StreamsSettings.of(
            "tenants-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("tenants"),
            1);
    try (KafkaStreams streams = new KafkaStreams(builder.build(), config);
        KafkaProducer<String, PromptRequest> producer =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
                new StringSerializer(),
                a.prompts().valueSerde().serializer());
        EventReader outputs =
            EventReader.committed(
                a.tokens(),
                a.completions(),
                a.generationErrors(),
                b.tokens(),
                b.completions(),
                b.generationErrors())) {
      streams.start();

      // a's first turn completes (its session has a cache) before b uses the same ids.
      producer.send(record(a, prompt("r1", "s", "a", "The jury said"))).get();
      awaitRead(outputs, () -> outputs.read(a.completions()).size() == 1);

      // (b's r1 at another offset than a's: the same partition and offset of a's topic and b's
      // must not pass for the same prompt.)
      producer.send(record(b, prompt("r2", "s", "a", "and then"))).get();
      producer.send(record(b, prompt("r1", "s", "b", "The jury said"))).get();
      producer.send(record(a, prompt("r3", "s", "a", "and then"))).get();
      producer.send(record(a, prompt("r1", null, "a", "again"))).get();
      awaitRead(
          outputs,
          () ->
              outputs.read(a.completions()).size() == 2
                  && outputs.read(b.completions()).size() == 1
                  && outputs.read(a.generationErrors()).size() == 1
                  && outputs.read(b.generationErrors()).size() == 1);

      Completion aFirst = outputs.read(a.completions()).get(0);
      Completion bFirst = outputs.read(b.completions()).get(0);
      assertEquals("r1", bFirst.getRequestId(), "b's r1 generates though a's r1 did");
      assertEquals(
          aFirst.getUsage().getPromptTokens(),
          bFirst.getUsage().getPromptTokens(),
          "b's turn in session s holds none of a's session s");
      assertEquals(0, bFirst.getUsage().getCachedPromptTokens(), "nor a's cache");
      assertEquals(aFirst.getTokenIds(), bFirst.getTokenIds(), "same prompt, same id: same text");

      Completion aSecond = outputs.read(a.completions()).get(1);
      assertEquals("r3", aSecond.getRequestId());
      assertTrue(
          aSecond.getUsage().getCachedPromptTokens() > 0
              && aSecond.getUsage().getPromptTokens() > aFirst.getUsage().getPromptTokens(),
          "a's second turn continues a's session from its cache: " + aSecond.getUsage());

      GenerationError mismatch = outputs.read(b.generationErrors()).get(0);
      assertEquals(ErrorCode.TENANT_MISMATCH, mismatch.getCode(), mismatch.getMessage());
      assertEquals("r2", mismatch.getRequestId());
      assertEquals(b.prompts().name(), mismatch.getSourceTopic());
      GenerationError duplicate = outputs.read(a.generationErrors()).get(0);
      assertEquals(ErrorCode.DUPLICATE_REQUEST_ID, duplicate.getCode(), duplicate.getMessage());
      assertEquals(a.prompts().name(), duplicate.getSourceTopic());

      assertEquals(Set.of("r1", "r3"), tokenRequests(outputs, a));
      assertEquals(Set.of("r1"), tokenRequests(outputs, b));
      assertEquals(List.of("r1", "r3"), started.get("a"));
      assertEquals(List.of("r1"), started.get("b"));
      assertEquals(List.of(ErrorCode.DUPLICATE_REQUEST_ID), refused.get("a"));
      assertEquals(List.of(ErrorCode.TENANT_MISMATCH), refused.get("b"));
      streams.close(Duration.ofSeconds(30));

      // Each tenant's auditor replays its own topics: the same tokens, the same refusals.
      for (Topics tenant : List.of(a, b)) {
        Replay.Report report =
            new Replay(
                    model,
                    tenant,
                    Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
                    TopologySettings.defaults().limits())
                .verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
        assertEquals(List.of(), report.diverging(), tenant.viewTenant());
        assertEquals(
            outputs.read(tenant.completions()).size(), report.identical(), tenant.viewTenant());
        assertEquals(1, report.refused(), tenant.viewTenant() + ": its duplicate or mismatch");
      }
    } finally {
      model.close();
      registry.stop();
    }
  }

  private static ProducerRecord<String, PromptRequest> record(Topics tenant, PromptRequest prompt) {
    String key = prompt.getSessionId() != null ? prompt.getSessionId() : prompt.getRequestId();
    return new ProducerRecord<>(tenant.prompts().name(), key, prompt);
  }

  private static PromptRequest prompt(String id, String session, String tenant, String text) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setSessionId(session)
        .setTenant(tenant)
        .setInput(TextInput.newBuilder().setText(text).build())
        .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(6).build())
        .setCreatedAt(Instant.now())
        .build();
  }

  /** The requests of which {@code tenant}'s tokens topic has events. */
  private static Set<String> tokenRequests(EventReader outputs, Topics tenant) {
    Set<String> ids = new java.util.TreeSet<>();
    outputs.read(tenant.tokens()).forEach(e -> ids.add(e.getRequestId()));
    return ids;
  }

  /** Reads the tenants' outputs until {@code done} holds. */
  private static void awaitRead(EventReader outputs, BooleanSupplier done) {
    outputs.pollUntil(Duration.ofSeconds(120), done, () -> "read so far: " + outputs);
  }
}
