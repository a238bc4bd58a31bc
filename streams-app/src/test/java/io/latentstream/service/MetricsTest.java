package io.latentstream.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.latentstream.model.ExpertLoad;
import io.latentstream.model.Phase;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.ServiceUnderTest;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.topology.Topics;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.client.HttpClient;
import io.micronaut.http.client.annotation.Client;
import io.micronaut.http.client.exceptions.HttpClientResponseException;
import io.micronaut.test.extensions.junit5.annotation.MicronautTest;
import io.micronaut.test.support.TestPropertyProvider;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Prometheus endpoint reports what the service did, in numbers: two turns of a session and one
 * duplicate generate, and every counter, histogram and per-expert count agrees with the completions
 * and with the engine's steps.
 */
@MicronautTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class MetricsTest implements TestPropertyProvider {
  /** How long each completion and error may take to be read. */
  private static final Duration READING = Duration.ofSeconds(90);

  private ServiceUnderTest service;
  private Topics topics;

  @Inject
  @Client("/")
  HttpClient http;

  @Inject ServedModel model;

  @Override
  public Map<String, String> getProperties() {
    service = ServiceUnderTest.start("metrics-test");
    topics = service.topics();
    warnings.start();
    root().addAppender(warnings);
    return service.properties();
  }

  /** WARN and ERROR lines logged from the service's start on. */
  private final ListAppender<ILoggingEvent> warnings =
      new ListAppender<>() {
        @Override
        protected void append(ILoggingEvent event) {
          if (event.getLevel().isGreaterOrEqual(Level.WARN)) {
            super.append(event);
          }
        }
      };

  private static ch.qos.logback.classic.Logger root() {
    return (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
  }

  @AfterAll
  void stopRegistry() {
    root().detachAppender(warnings);
    service.close();
  }

  @Test
  void prometheusReportsTokensLatenciesSessionsErrorsAndExpertLoad() throws Exception {
    awaitHealthy();
    ExpertLoad load = model.engine().expertLoad();
    long[] routedBefore = routedPerLayer(load);
    long stepsBefore = model.loop().stats().steps();
    double phasesBefore = 0;
    for (Phase phase : Phase.values()) {
      phasesBefore += model.engine().phaseNanos(phase) / 1e9;
    }

    publish(prompt("m-1", "The jury said", 12));
    Completion first = EventReader.completionOf(topics, "m-1", READING);
    publish(prompt("m-2", "It was", 10));
    Completion second = EventReader.completionOf(topics, "m-2", READING);
    publish(prompt("m-1", "A duplicate", 4));
    EventReader.errorOf(topics, "m-1", READING);

    int generated = first.getTokenIds().size() + second.getTokenIds().size();
    assertTrue(generated > 2);
    assertTrue(second.getUsage().getCachedPromptTokens() > 0, "the second turn reuses the cache");
    Prometheus text = scrapeWhenSettled();

    assertEquals(generated, text.sum("latentstream_tokens_generated_total"), text.body);
    assertEquals(1, text.sum("latentstream_session_turns_total", "cache=\"hit\""));
    assertEquals(1, text.sum("latentstream_session_turns_total", "cache=\"miss\""));
    long bytesPerToken = model.engine().bytesPerToken();
    assertEquals(
        (double) second.getUsage().getCachedPromptTokens() * bytesPerToken,
        text.sum("latentstream_session_cache_loaded_bytes_total"));
    assertTrue(text.sum("latentstream_session_cache_written_bytes_total") > 0);
    assertEquals(
        1,
        text.sum(
            "latentstream_errors_total", "code=\"DUPLICATE_REQUEST_ID\"", "stage=\"refused\""));
    assertEquals(2, text.sum("latentstream_time_to_first_token_seconds_count"));
    assertEquals(generated - 2, text.sum("latentstream_inter_token_latency_seconds_count"));
    assertEquals(2, text.sum("latentstream_requests_finished_total"));
    assertEquals(0, text.sum("latentstream_requests_running"));
    assertEquals(0, text.sum("latentstream_requests_waiting"));
    assertEquals(
        first.getMtpDraftedTokens() + second.getMtpDraftedTokens(),
        text.sum("latentstream_mtp_drafted_total"));
    assertEquals(
        first.getMtpAcceptedTokens() + second.getMtpAcceptedTokens(),
        text.sum("latentstream_mtp_accepted_total"));
    assertEquals(
        first.getMtpAcceptedTokens() + second.getMtpAcceptedTokens(),
        text.sum("latentstream_tokens_from_mtp_draft_total"));

    // Every step is in the batch summaries; every row it ran went to top_k experts per MoE layer.
    double steps = text.sum("latentstream_engine_steps_total");
    assertEquals(model.loop().stats().steps() - stepsBefore, steps);
    assertEquals(steps, text.sum("latentstream_batch_tokens_count"));
    assertEquals(steps, text.sum("latentstream_engine_step_seconds_count", "phase=\"forward\""));
    double rows = text.sum("latentstream_batch_tokens_sum");
    double draftRows = text.sum("latentstream_batch_draft_rows_sum");
    int prompted = first.getUsage().getPromptTokens() + second.getUsage().getPromptTokens();
    assertTrue(rows >= generated, "rows " + rows);
    assertTrue(rows <= prompted + generated + draftRows, "rows " + rows);
    int topK = model.engine().config().numExpertsPerTok();
    int mtpLayer = model.engine().config().numHiddenLayers();
    for (int i = 0; i < load.layerCount(); i++) {
      String layer = "layer=\"" + load.layer(i) + "\"";
      double routed = text.sum("latentstream_expert_routed_tokens_total", layer);
      double expected = (load.layer(i) == mtpLayer ? draftRows : rows) * topK;
      assertEquals(expected, routed - routedBefore[i], layer);
      assertEquals(
          load.experts(), text.count("latentstream_expert_routed_tokens_total", layer), layer);
    }
    assertEquals(0, text.count("latentstream_expert_routed_tokens_total", "layer=\"0\""));

    // The forward passes' time, split by phase, fits inside the steps' forward and draft time.
    double phases = 0;
    for (String phase : List.of("attention", "ffn", "head")) {
      double seconds =
          text.sum("latentstream_engine_phase_seconds_total", "phase=\"" + phase + "\"");
      assertTrue(seconds > 0, phase);
      phases += seconds;
    }
    double passes =
        text.sum("latentstream_engine_step_seconds_sum", "phase=\"forward\"")
            + text.sum("latentstream_engine_step_seconds_sum", "phase=\"draft\"");
    assertTrue(phases - phasesBefore <= passes * 1.01 + 1e-3, phases + " > " + passes);

    // Kafka Streams' own metrics, keyed by group: the thread's rates apart from the client's.
    assertTrue(text.sum("kafka_stream_alive_stream_threads") >= 1, text.body);
    assertTrue(text.count("kafka_stream_thread_commit_rate") >= 1, text.body);
    assertTrue(text.count("kafka_stream_thread_process_rate") >= 1, text.body);

    // A service that works logs no warning: none from binding its meters, none from its state.
    // Streams warns of state under the OS temp directory; the test's is under target/, which is
    // there too only when the checkout itself is (a clean clone in /tmp): not the service's doing.
    boolean checkoutInTemp =
        Path.of("").toAbsolutePath().startsWith(Path.of(System.getProperty("java.io.tmpdir")));
    List<String> logged =
        warnings.list.stream()
            .filter(e -> !(checkoutInTemp && e.getLoggerName().endsWith(".StateDirectory")))
            .map(e -> e.getLevel() + " " + e.getLoggerName() + " - " + e.getFormattedMessage())
            .toList();
    assertEquals(List.of(), logged);
  }

  private static long[] routedPerLayer(ExpertLoad load) {
    long[] sums = new long[load.layerCount()];
    for (int i = 0; i < sums.length; i++) {
      for (int e = 0; e < load.experts(); e++) {
        sums[i] += load.routed(i, e);
      }
    }
    return sums;
  }

  /** The step summaries are recorded just after a step's requests finish: wait until they agree. */
  private Prometheus scrapeWhenSettled() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      Prometheus text =
          new Prometheus(
              http.toBlocking()
                  .retrieve(
                      io.micronaut.http.HttpRequest.GET("/prometheus")
                          .basicAuth(ServiceUnderTest.HTTP_USER, ServiceUnderTest.HTTP_PASSWORD)));
      double steps = text.sum("latentstream_engine_steps_total");
      if (steps > 0 && steps == text.sum("latentstream_batch_tokens_count")
          || System.nanoTime() > deadline) {
        return text;
      }
      Thread.sleep(100);
    }
  }

  /** Prometheus text exposition: samples by metric name and label pairs. */
  private record Prometheus(String body) {
    List<Double> values(String name, String... labels) {
      List<Double> values = new ArrayList<>();
      for (String line : body.split("\n")) {
        if (line.startsWith("#")) {
          continue;
        }
        int space = line.lastIndexOf(' ');
        String series = line.substring(0, Math.max(0, space));
        String metric = series.contains("{") ? series.substring(0, series.indexOf('{')) : series;
        if (!metric.equals(name)) {
          continue;
        }
        boolean all = true;
        for (String label : labels) {
          all &= series.contains(label);
        }
        if (all) {
          values.add(Double.parseDouble(line.substring(space + 1)));
        }
      }
      return values;
    }

    double sum(String name, String... labels) {
      return values(name, labels).stream().mapToDouble(Double::doubleValue).sum();
    }

    int count(String name, String... labels) {
      return values(name, labels).size();
    }
  }

  private static PromptRequest prompt(String requestId, String text, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setSessionId("metrics-chat")
        .setTenant("acme")
        .setInput(TextInput.newBuilder().setText(text).build())
        .setSampling(
            SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(maxNewTokens).build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private void publish(PromptRequest prompt) throws Exception {
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.ensureStarted()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      producer.send(new ProducerRecord<>(topics.prompts().name(), "metrics-chat", prompt)).get();
    }
  }

  private void awaitHealthy() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (true) {
      try {
        HttpResponse<Map> health = http.toBlocking().exchange("/health", Map.class);
        if (health.code() == 200 && "UP".equals(health.body().get("status"))) {
          return;
        }
      } catch (HttpClientResponseException e) {
        // 503 while Kafka Streams is starting or rebalancing
      }
      assertTrue(System.nanoTime() < deadline, "the service never became healthy");
      Thread.sleep(250);
    }
  }
}
