package io.latentstream.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.testing.EventReader;
import io.latentstream.testing.ServiceUnderTest;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.TestCertificates;
import io.latentstream.topology.Topics;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.client.HttpClient;
import io.micronaut.http.client.annotation.Client;
import io.micronaut.http.client.exceptions.HttpClientResponseException;
import io.micronaut.test.extensions.junit5.annotation.MicronautTest;
import io.micronaut.test.support.TestPropertyProvider;
import jakarta.inject.Inject;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
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

/**
 * The Micronaut service as deployed: configuration from application.yml, the topology on
 * Micronaut's default stream, health, and the interactive query of sessions, on a real broker and
 * registry. The registry serves HTTPS with a certificate made for the test, which only the trust
 * store in the service's configuration ({@code latentstream.schema-registry-ssl.*}) vouches for.
 */
@MicronautTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ServiceTest implements TestPropertyProvider {
  private TestCertificates certificate;
  private ServiceUnderTest service;
  private Topics topics;

  @Inject SchemaRegistryClient registry;

  @Inject
  @Client("/")
  HttpClient http;

  @Override
  public Map<String, String> getProperties() {
    try {
      certificate =
          TestCertificates.create(
              Files.createTempDirectory("service-test-tls"), "registry", "service-test-secret");
    } catch (Exception e) {
      throw new IllegalStateException("cannot make the registry's certificate", e);
    }
    service = ServiceUnderTest.startWithHttpsRegistry("service-test", certificate);
    topics = service.topics();
    return service.properties();
  }

  @AfterAll
  void stopRegistry() {
    service.close();
  }

  @Test
  void servesPromptsReportsHealthAndAnswersSessionQueries() throws Exception {
    awaitHealthy();
    PromptRequest prompt =
        PromptRequest.newBuilder()
            .setRequestId("service-1")
            .setSessionId("chat-7")
            .setTenant("acme")
            .setInput(TextInput.newBuilder().setText("The jury said").build())
            .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(8).build())
            .setCreatedAt(Instant.now())
            .build();
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.ensureStarted()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      producer.send(new ProducerRecord<>(topics.prompts().name(), "chat-7", prompt)).get();
    }
    for (String probe : List.of("/health/readiness", "/health/liveness")) {
      HttpResponse<Map> health = http.toBlocking().exchange(probe, Map.class);
      assertEquals("UP", health.body().get("status"), probe + ": " + health.body());
    }
    Completion completion = awaitCompletion("service-1");
    assertEquals("brown-mtp", completion.getModelId());
    // The service registered the schemas of what it wrote over HTTPS, trusting the test's
    // certificate through its configured trust store.
    assertEquals("https", registry.config().urls().get(0).getScheme());
    assertTrue(registry.config().sslContext().isPresent());
    assertTrue(registry.subjects().contains(topics.completions().name() + "-value"));

    Map<?, ?> session =
        http.toBlocking().retrieve(authenticated("/sessions/acme/chat-7"), Map.class);
    int promptAndReply = 4 + completion.getTokenIds().size();
    assertEquals(promptAndReply, session.get("historyTokens"));
    assertEquals(promptAndReply - 1, session.get("cachedTokens"));
    assertEquals("cpu", session.get("cacheBackend"));
    HttpClientResponseException otherTenant =
        assertThrows(
            HttpClientResponseException.class,
            () -> http.toBlocking().retrieve(authenticated("/sessions/globex/chat-7"), Map.class));
    assertEquals(HttpStatus.NOT_FOUND, otherTenant.getStatus());
    // Without the service's credentials: no session, no details, but the probes answer.
    HttpClientResponseException anonymous =
        assertThrows(
            HttpClientResponseException.class,
            () -> http.toBlocking().retrieve("/sessions/acme/chat-7", Map.class));
    assertEquals(HttpStatus.UNAUTHORIZED, anonymous.getStatus());
    assertTrue(
        anonymous.getResponse().getHeaders().get("WWW-Authenticate").startsWith("Basic"),
        "a challenge a browser answers");
    HttpClientResponseException wrong =
        assertThrows(
            HttpClientResponseException.class,
            () ->
                http.toBlocking()
                    .retrieve(
                        io.micronaut.http.HttpRequest.GET("/sessions/acme/chat-7")
                            .basicAuth(ServiceUnderTest.HTTP_USER, "guess"),
                        Map.class));
    assertEquals(HttpStatus.UNAUTHORIZED, wrong.getStatus());
    Map<?, ?> bare = http.toBlocking().retrieve("/health", Map.class);
    assertEquals("UP", bare.get("status"));
    assertNull(bare.get("details"), "health details need credentials: " + bare);
    Map<?, ?> detailed = http.toBlocking().retrieve(authenticated("/health"), Map.class);
    assertTrue(detailed.get("details") != null, "with credentials, the details: " + detailed);
  }

  private static io.micronaut.http.MutableHttpRequest<?> authenticated(String path) {
    return io.micronaut.http.HttpRequest.GET(path)
        .basicAuth(ServiceUnderTest.HTTP_USER, ServiceUnderTest.HTTP_PASSWORD);
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

  private Completion awaitCompletion(String requestId) {
    return EventReader.completionOf(topics, requestId, Duration.ofSeconds(90));
  }
}
