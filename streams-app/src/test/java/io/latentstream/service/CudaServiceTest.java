package io.latentstream.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.engine.CacheCapacity;
import io.latentstream.engine.Engine;
import io.latentstream.model.ModelConfig;
import io.latentstream.replay.Replay;
import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EmulatedDevice;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.ServiceUnderTest;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import io.latentstream.topology.PromptLimits;
import io.latentstream.topology.Topics;
import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The service as deployed with {@code latentstream.backend: cuda}, on the emulated CUDA device of
 * gpu-runtime's tests (a CPU emulation that runs the same kernels: it judges logic, never speed):
 * prompts on a real broker, tokens and completions out, each recording backend cuda; a session's
 * second turn resumes from the latents its first turn left in the state store; and an audit replay
 * on the CUDA engine reproduces every token bitwise.
 *
 * <p>The device's page pool is sized for 2 pages (128 tokens): the requests take turns for pages,
 * and one that could never fit is refused with CONTEXT_OVERFLOW, which replay follows.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class CudaServiceTest {
  private static final Path MODEL = SharedModels.model("brown-mtp");
  private static final long CACHE_MEMORY = twoPages();

  /** Device memory for 2 latent pages of 64 tokens (every layer's latents, MTP's included). */
  private static long twoPages() {
    try {
      ModelConfig c = ModelConfig.load(MODEL);
      int layers = c.numHiddenLayers() + Math.min(1, c.numNextnPredictLayers());
      return 2L * 64 * layers * c.latentDim() * Float.BYTES;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Test
  void servesOnTheDeviceResumesASessionFromTheStoreAndReplaysBitwise() throws Exception {
    EmulatedDevice.assumeBuilt();
    try (ServiceUnderTest kafka = ServiceUnderTest.start("cuda-service")) {
      Topics topics = kafka.topics();
      Map<String, Object> properties = new HashMap<>(kafka.properties());
      properties.put("latentstream.backend", "cuda");
      properties.put("latentstream.cuda.cache-memory", CACHE_MEMORY);
      Map<String, Completion> done = new HashMap<>();
      try (ApplicationContext service =
          ApplicationContext.run(EmbeddedServer.class, properties).getApplicationContext()) {
        Engine engine = service.getBean(ServedModel.class).engine();
        assertEquals("cuda", engine.backend());
        assertEquals(new CacheCapacity(64, 2), engine.cacheCapacity());
        SharedKafkaCluster.publish(
            topics,
            prompt("turn-1", "chat", "The jury said", 0.0, null, 8),
            prompt("too-long", null, "The court", 0.0, null, 200),
            prompt("sampled", null, "It was", 0.8, 7L, 8));
        done.putAll(awaitCompletions(topics, Set.of("turn-1", "sampled")));
        SharedKafkaCluster.publish(topics, prompt("turn-2", "chat", " And then", 0.0, null, 8));
        done.putAll(awaitCompletions(topics, Set.of("turn-2")));
      }

      Completion first = done.get("turn-1");
      Completion second = done.get("turn-2");
      int firstContext =
          first.getUsage().getPromptTokens() + first.getUsage().getCompletionTokens();
      // Every token of the first turn but the last generated one has its latents computed and
      // stored; the second turn loads them instead of recomputing its prefix.
      assertEquals(firstContext - 1, second.getUsage().getCachedPromptTokens(), second.toString());
      done.values().forEach(c -> assertEquals("cuda", c.getBackend(), c.getRequestId()));
      List<TokenEvent> tokens = readTokens(topics);
      assertEquals(
          done.values().stream().mapToInt(c -> c.getTokenIds().size()).sum(), tokens.size());
      tokens.forEach(t -> assertEquals("cuda", t.getBackend(), t.toString()));
      GenerationError refused = EventReader.errorOf(topics, "too-long", Duration.ofSeconds(60));
      assertEquals(ErrorCode.CONTEXT_OVERFLOW, refused.getCode());
      assertTrue(refused.getMessage().contains("latent cache holds 128"), refused.getMessage());

      // The auditor's replay: the recorded backend, on a device of its own.
      Map<String, Object> client =
          Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers());
      assertEquals(Set.of("cuda"), Replay.recordedBackends(topics, client, Replay.Range.all()));
      GenerationLoop.Settings settings = GenerationLoop.Settings.defaults();
      try (Backends.Loaded loaded =
              Backends.load(
                  "cuda",
                  MODEL,
                  Backends.CudaSizes.forLoop(
                      settings.maxRunning(), settings.maxStepTokens(), CACHE_MEMORY));
          ServedModel replaying =
              ServedModel.serve(loaded.engine(), MODEL, "brown-mtp", settings)) {
        Replay.Report report =
            new Replay(replaying, topics, client, PromptLimits.defaults())
                .verify(Replay.Range.all(), Replay.Allow.NOTHING, null);
        assertEquals(List.of(), report.diverging());
        assertEquals(3, report.identical());
      }
    }
  }

  private static PromptRequest prompt(
      String requestId, String session, String text, double temperature, Long seed, int tokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setSessionId(session)
        .setTenant("acme")
        .setInput(TextInput.newBuilder().setText(text).build())
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(temperature)
                .setSeed(seed)
                .setMaxNewTokens(tokens)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private static Map<String, Completion> awaitCompletions(Topics topics, Set<String> ids) {
    try (EventReader reader = EventReader.committed(topics.completions())) {
      reader.pollUntil(
          Duration.ofSeconds(300),
          () -> reader.completions().keySet().containsAll(ids),
          () -> "completions within 300 s: " + reader.completions().keySet() + " of " + ids);
      Map<String, Completion> found = new HashMap<>(reader.completions());
      found.keySet().retainAll(ids);
      return found;
    }
  }

  /** Every token event, read until none has come for 3 s. */
  private static List<TokenEvent> readTokens(Topics topics) {
    try (EventReader reader = EventReader.committed(topics.tokens())) {
      List<TokenEvent> events = reader.read(topics.tokens());
      int before;
      do {
        before = events.size();
        reader.pollFor(Duration.ofSeconds(3));
      } while (events.size() > before);
      assertTrue(!events.isEmpty(), "token events");
      return List.copyOf(events);
    }
  }
}
