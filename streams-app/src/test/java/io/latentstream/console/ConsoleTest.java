package io.latentstream.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.model.ExpertLoad;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.HeadlessChromium;
import io.latentstream.testing.ServiceUnderTest;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.topology.Topics;
import io.micronaut.runtime.server.EmbeddedServer;
import io.micronaut.test.extensions.junit5.annotation.MicronautTest;
import io.micronaut.test.support.TestPropertyProvider;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The web console on the running service: its API (server-sent events of tokens, the stats the
 * charts and the heatmap are drawn from) and the page itself in headless Chromium.
 */
@MicronautTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConsoleTest implements TestPropertyProvider {
  private static final ObjectMapper JSON = new ObjectMapper();
  private ServiceUnderTest service;
  private Topics topics;

  @Inject EmbeddedServer server;
  @Inject ServedModel model;

  @Override
  public Map<String, String> getProperties() {
    service = ServiceUnderTest.start("console-test");
    topics = service.topics();
    return service.properties();
  }

  @AfterAll
  void stopRegistry() {
    service.close();
  }

  /** The event stream carries start, every token in order, then end; the stats agree. */
  @Test
  @Order(1)
  void eventStreamCarriesEachTokenAndStatsCarryExpertLoad() throws Exception {
    awaitHealthy();
    // Every tenant's text: not for anyone without the service's credentials.
    for (String path :
        List.of("/console/api/events", "/console/api/stats", "/console/index.html")) {
      HttpResponse<String> refused =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(url(path)).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, refused.statusCode(), path);
    }
    HttpResponse<InputStream> stream =
        HttpClient.newHttpClient()
            .send(
                authenticated(url("/console/api/events")).build(),
                HttpResponse.BodyHandlers.ofInputStream());
    assertEquals(200, stream.statusCode());
    assertTrue(
        stream.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
    publish(prompt("sse-1", "The jury said", 10));
    List<JsonNode> events = new ArrayList<>();
    try (BufferedReader lines =
        new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8))) {
      for (String line; (line = lines.readLine()) != null; ) {
        if (line.startsWith("data:") && !line.substring(5).isBlank()) {
          JsonNode event = JSON.readTree(line.substring(5));
          if ("sse-1".equals(event.path("requestId").asText())) {
            events.add(event);
            if ("end".equals(event.get("type").asText())) {
              break;
            }
          }
        }
      }
    }
    Completion completion = awaitCompletion("sse-1");
    assertEquals("start", events.get(0).get("type").asText());
    List<JsonNode> tokens = events.subList(1, events.size() - 1);
    assertEquals(completion.getTokenIds().size(), tokens.size());
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < tokens.size(); i++) {
      assertEquals("token", tokens.get(i).get("type").asText());
      assertEquals(i, tokens.get(i).get("index").asInt());
      text.append(tokens.get(i).path("text").asText());
    }
    assertEquals(completion.getText(), text.toString());
    assertEquals(
        completion.getFinishReason().name(), events.get(events.size() - 1).get("text").asText());

    JsonNode stats = JSON.readTree(get("/console/api/stats"));
    ExpertLoad load = model.engine().expertLoad();
    assertEquals(load.layerCount(), stats.get("layers").size());
    assertEquals(load.experts(), stats.get("experts").asInt());
    for (int i = 0; i < load.layerCount(); i++) {
      assertEquals(load.layer(i), stats.get("layers").get(i).asInt());
      for (int e = 0; e < load.experts(); e++) {
        assertEquals(load.routed(i, e), stats.get("routed").get(i).get(e).asLong());
      }
    }
    assertTrue(stats.get("tokens").asDouble() >= completion.getTokenIds().size());
    assertTrue(get("/console/index.html").contains("latentstream console"));
  }

  /**
   * In headless Chromium: the page goes live, a generation arrives token by token and ends with the
   * completion's text, and the heatmap shows the engine's routed counts.
   */
  @Test
  @Order(2)
  void theConsoleShowsAGenerationArrivingAndTheExpertLoad() throws Exception {
    assumeTrue(HeadlessChromium.available(), "no Chromium at " + HeadlessChromium.BINARY);
    awaitHealthy();
    try (HeadlessChromium browser = HeadlessChromium.start(1400, 1000)) {
      // Logged in: the browser sends the credentials with every request of the page, the event
      // stream's too.
      browser.call("Network.enable", Map.of());
      browser.call(
          "Network.setExtraHTTPHeaders", Map.of("headers", Map.of("Authorization", BASIC)));
      browser.navigate(url("/console").toString());
      browser.await("document.getElementById('connection')?.textContent === 'live'", 20_000);
      browser.await("document.querySelectorAll('#heatmap rect.cell').length > 0", 20_000);

      String item = "document.querySelector('li[data-request-id=\"page-1\"]')";
      // Records how many tokens the request's text shows after each change of the list.
      browser.evaluate(
          "window.growth = []; new MutationObserver(() => { const li = "
              + item
              + "; if (li) growth.push(li.querySelectorAll('.text span').length); })"
              + ".observe(document.getElementById('streams'), {childList: true, subtree: true});"
              + " true");
      publish(prompt("page-1", "The jury said", 48));
      browser.await(item + " !== null", 60_000);
      browser.await(item + ".dataset.finish !== undefined", 60_000);
      Completion completion = awaitCompletion("page-1");
      assertEquals(
          completion.getText(),
          browser.evaluate(item + ".querySelector('.text').textContent").asText());
      assertEquals(
          completion.getTokenIds().size(),
          browser.evaluate(item + ".querySelectorAll('.text span').length").asInt());
      assertEquals(
          completion.getFinishReason().name(), browser.evaluate(item + ".dataset.finish").asText());
      // The text grew token by token as the events arrived, never jumping or shrinking.
      JsonNode growth = browser.evaluate("growth");
      List<Integer> shownCounts = new ArrayList<>();
      for (JsonNode count : growth) {
        if (shownCounts.isEmpty() || shownCounts.get(shownCounts.size() - 1) != count.asInt()) {
          shownCounts.add(count.asInt());
        }
      }
      for (int i = 1; i < shownCounts.size(); i++) {
        assertEquals(shownCounts.get(i - 1) + 1, shownCounts.get(i), "growth " + shownCounts);
      }
      assertEquals(completion.getTokenIds().size(), shownCounts.get(shownCounts.size() - 1));
      assertTrue(shownCounts.get(0) <= 1, "growth " + shownCounts);

      // More traffic for the charts, then the heatmap must equal the engine's counts.
      for (int i = 0; i < 3; i++) {
        publish(prompt("page-extra-" + i, "It was the", 24));
      }
      for (int i = 0; i < 3; i++) {
        awaitCompletion("page-extra-" + i);
      }
      String cells =
          "JSON.stringify([...document.querySelectorAll('#heatmap rect.cell')].map(r =>"
              + " [+r.dataset.layer, +r.dataset.expert, +r.dataset.count, r.getAttribute('fill')]))";
      ExpertLoad load = model.engine().expertLoad();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      JsonNode shown;
      while (true) {
        shown = JSON.readTree(browser.evaluate(cells).asText());
        if (matches(shown, load) || System.nanoTime() > deadline) {
          break;
        }
        Thread.sleep(200);
      }
      assertEquals(load.layerCount() * load.experts(), shown.size());
      assertTrue(matches(shown, load), "the heatmap shows the engine's routed counts: " + shown);
      // The busiest and the idlest expert of a layer are drawn in different colours.
      String busiest = null;
      String idlest = null;
      long most = -1;
      long least = Long.MAX_VALUE;
      for (JsonNode cell : shown) {
        if (cell.get(0).asInt() == load.layer(0)) {
          if (cell.get(2).asLong() > most) {
            most = cell.get(2).asLong();
            busiest = cell.get(3).asText();
          }
          if (cell.get(2).asLong() < least) {
            least = cell.get(2).asLong();
            idlest = cell.get(3).asText();
          }
        }
      }
      assertNotEquals(busiest, idlest);
      browser.await("document.querySelectorAll('#chart-throughput polyline').length > 0", 10_000);
      Thread.sleep(1500); // one more poll so the charts show the burst
      Path png = Path.of("target", "console.png");
      Files.write(png, browser.screenshot());
      assertTrue(Files.size(png) > 10_000, "a screenshot of the console");
    }
  }

  private static boolean matches(JsonNode shown, ExpertLoad load) {
    if (shown.size() != load.layerCount() * load.experts()) {
      return false;
    }
    for (JsonNode cell : shown) {
      int layer = cell.get(0).asInt();
      int i = 0;
      while (i < load.layerCount() && load.layer(i) != layer) {
        i++;
      }
      if (i == load.layerCount() || load.routed(i, cell.get(1).asInt()) != cell.get(2).asLong()) {
        return false;
      }
    }
    return true;
  }

  private URI url(String path) {
    return URI.create(server.getURL().toString() + path);
  }

  private String get(String path) throws Exception {
    return HttpClient.newHttpClient()
        .send(authenticated(url(path)).build(), HttpResponse.BodyHandlers.ofString())
        .body();
  }

  /** A request with the service's HTTP credentials (basic). */
  private static HttpRequest.Builder authenticated(URI uri) {
    return HttpRequest.newBuilder(uri).header("Authorization", BASIC);
  }

  private static final String BASIC =
      "Basic "
          + java.util.Base64.getEncoder()
              .encodeToString(
                  (ServiceUnderTest.HTTP_USER + ":" + ServiceUnderTest.HTTP_PASSWORD)
                      .getBytes(StandardCharsets.UTF_8));

  private static PromptRequest prompt(String requestId, String text, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setTenant("acme")
        .setInput(TextInput.newBuilder().setText(text).build())
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(0.8)
                .setSeed(7L)
                .setMaxNewTokens(maxNewTokens)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private void publish(PromptRequest prompt) throws Exception {
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.ensureStarted()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      producer
          .send(new ProducerRecord<>(topics.prompts().name(), prompt.getRequestId(), prompt))
          .get();
    }
  }

  private void awaitHealthy() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    HttpClient http = HttpClient.newHttpClient();
    while (http.send(
                HttpRequest.newBuilder(url("/health")).build(),
                HttpResponse.BodyHandlers.ofString())
            .statusCode()
        != 200) {
      assertTrue(System.nanoTime() < deadline, "the service never became healthy");
      Thread.sleep(250);
    }
  }

  private Completion awaitCompletion(String requestId) {
    return EventReader.completionOf(topics, requestId, Duration.ofSeconds(90));
  }
}
