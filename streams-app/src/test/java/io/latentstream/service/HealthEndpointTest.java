package io.latentstream.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micronaut.http.HttpResponse;
import io.micronaut.http.client.HttpClient;
import io.micronaut.http.client.annotation.Client;
import io.micronaut.test.extensions.junit5.annotation.MicronautTest;
import jakarta.inject.Inject;
import java.util.Map;
import org.junit.jupiter.api.Test;

@MicronautTest
class HealthEndpointTest {
  @Inject
  @Client("/")
  HttpClient client;

  @Test
  void healthEndpointReportsTheServiceAndItsKafkaStreams() {
    HttpResponse<Map> response = client.toBlocking().exchange("/health", Map.class);
    assertEquals(200, response.code());
    Map<?, ?> details = (Map<?, ?>) response.body().get("details");
    assertEquals("UP", ((Map<?, ?>) details.get("service")).get("status"), details.toString());
    assertTrue(details.containsKey("kafkaStreams"), details.toString());
  }
}
