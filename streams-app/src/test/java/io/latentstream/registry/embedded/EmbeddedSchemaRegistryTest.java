package io.latentstream.registry.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.registry.CompatibilityLevel;
import io.latentstream.registry.RegistryException;
import io.latentstream.registry.SchemaVersion;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.RegistryUnavailableException;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.testing.SharedKafkaCluster;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The registry client against the embedded registry over real HTTP, storing into a real KRaft
 * broker: the REST subset, compatibility enforcement, durability across restarts, and retries.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EmbeddedSchemaRegistryTest {
  private static final String SCHEMAS_TOPIC = "_schemas-registry-test";
  private static EmbeddedSchemaRegistry registry;
  private static SchemaRegistryClient client;

  @BeforeAll
  static void startRegistry() throws IOException {
    registry = startRegistry(SCHEMAS_TOPIC, 0);
    client = new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
  }

  @AfterAll
  static void stopRegistry() {
    registry.stop();
  }

  static EmbeddedSchemaRegistry startRegistry(String topic, int port) throws IOException {
    return new EmbeddedSchemaRegistry(
            EmbeddedRegistryConfig.of(SharedKafkaCluster.bootstrapServers())
                .withSchemasTopic(topic)
                .withPort(port))
        .start();
  }

  @Test
  void registersLooksUpAndListsOverHttp() {
    Schema schema = TokenEvent.getClassSchema();
    int id = client.register("round-trip-value", schema);

    // A fresh client has no cache: every answer below comes from the server.
    SchemaRegistryClient fresh = freshClient();
    assertEquals(schema, fresh.schemaById(id));
    assertEquals(id, fresh.register("round-trip-value", schema), "identical schema, same id");
    assertEquals(id, fresh.lookup("round-trip-value", schema).orElseThrow());
    assertTrue(fresh.subjects().contains("round-trip-value"));
    SchemaVersion latest = fresh.latestVersion("round-trip-value");
    assertEquals(new SchemaVersion("round-trip-value", 1, id, schema), latest);

    // Ids are global: the same schema under another subject keeps its id.
    assertEquals(id, fresh.register("round-trip-copy-value", schema));
    assertNotEquals(id, fresh.register("round-trip-value-2", Completion.getClassSchema()));
  }

  @Test
  void refusesAnIncompatibleSchemaWith409AndAcceptsACompatibleOne() {
    Schema v1 = TokenEvent.getClassSchema();
    int firstId = client.register("evolving-value", v1);

    Schema requiredFieldAdded = withField(v1, "{\"name\":\"tenant\",\"type\":\"string\"}");
    assertFalse(client.isCompatible("evolving-value", requiredFieldAdded));
    RegistryException refused =
        assertThrows(
            RegistryException.class, () -> client.register("evolving-value", requiredFieldAdded));
    assertEquals(409, refused.httpStatus());
    assertEquals(RegistryException.INCOMPATIBLE_SCHEMA, refused.errorCode());

    Schema optionalFieldAdded =
        withField(v1, "{\"name\":\"tenant\",\"type\":[\"null\",\"string\"],\"default\":null}");
    assertTrue(client.isCompatible("evolving-value", optionalFieldAdded));
    int secondId = client.register("evolving-value", optionalFieldAdded);
    assertNotEquals(firstId, secondId);
    assertEquals(2, freshClient().latestVersion("evolving-value").version());
  }

  @Test
  void compatibilityIsConfigurablePerSubject() {
    Schema v1 = TokenEvent.getClassSchema();
    Schema incompatible = withField(v1, "{\"name\":\"tenant\",\"type\":\"string\"}");
    client.register("lenient-value", v1);
    client.register("strict-value", v1);

    assertEquals(
        CompatibilityLevel.NONE, client.setCompatibility("lenient-value", CompatibilityLevel.NONE));
    assertEquals(CompatibilityLevel.NONE, freshClient().compatibility("lenient-value"));
    assertEquals(CompatibilityLevel.BACKWARD, freshClient().compatibility("strict-value"));

    client.register("lenient-value", incompatible);
    assertThrows(RegistryException.class, () -> client.register("strict-value", incompatible));
  }

  @Test
  void answersErrorsWithTheDocumentedCodes() throws Exception {
    // A record without fields is not valid Avro; our client cannot even build one, so post raw.
    HttpResponse<String> invalid =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(registry.url() + "/subjects/bad-value/versions"))
                    .header("Content-Type", SchemaRegistryClient.CONTENT_TYPE)
                    .POST(
                        HttpRequest.BodyPublishers.ofString(
                            "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"X\\\"}\"}"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(422, invalid.statusCode(), invalid.body());
    assertEquals(
        RegistryException.INVALID_SCHEMA,
        new ObjectMapper().readTree(invalid.body()).path("error_code").asInt(),
        invalid.body());

    RegistryException noSuchSchema =
        assertThrows(RegistryException.class, () -> client.schemaById(987_654));
    assertEquals(RegistryException.SCHEMA_NOT_FOUND, noSuchSchema.errorCode());
    assertEquals(404, noSuchSchema.httpStatus());

    RegistryException noSuchSubject =
        assertThrows(RegistryException.class, () -> client.latestVersion("never-registered"));
    assertEquals(RegistryException.SUBJECT_NOT_FOUND, noSuchSubject.errorCode());
    assertEquals(404, noSuchSubject.httpStatus());
  }

  @Test
  void theReleasedSchemaVersionsAcceptTheCurrentOnesAsSuccessors() throws IOException {
    Path released = Path.of("..", "schemas", "src", "test", "resources", "released");
    for (Schema current :
        List.of(
            PromptRequest.getClassSchema(),
            TokenEvent.getClassSchema(),
            Completion.getClassSchema(),
            GenerationError.getClassSchema())) {
      String subject = "released-" + current.getName() + "-value";
      Schema v1 =
          new Schema.Parser()
              .parse(Files.readString(released.resolve(current.getName() + "-v1.avsc")));
      client.register(subject, v1);
      assertTrue(client.isCompatible(subject, current), current.getName());
      client.register(subject, current);
    }
  }

  @Test
  void survivesARestartWithIdsSubjectsAndConfigIntact() throws IOException {
    String topic = "_schemas-restart-test";
    int tokenId;
    int completionId;
    try (EmbeddedSchemaRegistry first = startRegistry(topic, 0)) {
      SchemaRegistryClient c =
          new SchemaRegistryClient(RegistryClientConfig.of(first.url().toString()));
      tokenId = c.register("tokens-value", TokenEvent.getClassSchema());
      completionId = c.register("completions-value", Completion.getClassSchema());
      c.setCompatibility("tokens-value", CompatibilityLevel.FULL);
    }

    try (EmbeddedSchemaRegistry second = startRegistry(topic, 0)) {
      SchemaRegistryClient c =
          new SchemaRegistryClient(RegistryClientConfig.of(second.url().toString()));
      assertEquals(List.of("completions-value", "tokens-value"), c.subjects());
      assertEquals(TokenEvent.getClassSchema(), c.schemaById(tokenId));
      assertEquals(completionId, c.latestVersion("completions-value").id());
      assertEquals(tokenId, c.register("tokens-value", TokenEvent.getClassSchema()));
      assertEquals(CompatibilityLevel.FULL, c.compatibility("tokens-value"));
      // New ids continue after the replayed ones instead of reusing them.
      int next = c.register("errors-value", GenerationError.getClassSchema());
      assertTrue(next > Math.max(tokenId, completionId), "id " + next + " reused");
    }
  }

  @Test
  void aSecondInstanceOnTheSameTopicFencesTheFirstSoIdsStayUnique() throws IOException {
    String topic = "_schemas-fencing-test";
    try (EmbeddedSchemaRegistry first = startRegistry(topic, 0)) {
      SchemaRegistryClient old =
          new SchemaRegistryClient(
              RegistryClientConfig.of(first.url().toString())
                  .withRetries(
                      Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(300)));
      int tokenId = old.register("tokens-value", TokenEvent.getClassSchema());

      try (EmbeddedSchemaRegistry second = startRegistry(topic, 0)) {
        SchemaRegistryClient current = freshClient(second);
        RegistryUnavailableException fenced =
            assertThrows(
                RegistryUnavailableException.class,
                () -> old.register("completions-value", Completion.getClassSchema()));
        assertEquals(500, ((RegistryException) fenced.getCause()).httpStatus());
        // The fenced instance still answers reads from what it knew.
        assertEquals(TokenEvent.getClassSchema(), freshClient(first).schemaById(tokenId));

        int completionId = current.register("completions-value", Completion.getClassSchema());
        assertNotEquals(tokenId, completionId);
        assertEquals(List.of("completions-value", "tokens-value"), current.subjects());
      }
    }
  }

  @Test
  void theKafkaStorageReopensAfterAFailedWriteAndWritesOn() throws Exception {
    String topic = "_schemas-reopen-test";
    // A topic that refuses large records: the broker fails the write of a large schema, a real
    // failed transaction, after which the registry reopens the storage.
    SharedKafkaCluster.createTopics(
        List.of(
            new NewTopic(topic, 1, (short) 1)
                .configs(
                    Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG,
                        TopicConfig.CLEANUP_POLICY_COMPACT,
                        TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                        "1024"))));
    SchemasTopicFormat.Entry small =
        new SchemasTopicFormat.ConfigEntry("tokens-value", CompatibilityLevel.FULL);
    SchemasTopicFormat.Entry large =
        new SchemasTopicFormat.SchemaEntry(
            "prompts-value", 1, 1, PromptRequest.getClassSchema().toString());
    SchemasTopicFormat.Entry after =
        new SchemasTopicFormat.ConfigEntry("prompts-value", CompatibilityLevel.NONE);
    KafkaSchemaStorage storage =
        new KafkaSchemaStorage(
            EmbeddedRegistryConfig.of(SharedKafkaCluster.bootstrapServers())
                .withSchemasTopic(topic));
    try {
      assertEquals(List.of(), storage.open());
      storage.append(small);
      assertThrows(IllegalStateException.class, () -> storage.append(large));

      storage.close();
      assertEquals(List.of(small), storage.open());
      storage.append(after);
      storage.close();
      assertEquals(List.of(small, after), storage.open());
    } finally {
      storage.close();
    }
  }

  @Test
  void theClientRetriesWhileTheRegistryIsDownAndSucceedsOnceItIsUp() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    SchemaRegistryClient patient =
        new SchemaRegistryClient(
            RegistryClientConfig.of("http://127.0.0.1:" + port)
                .withRetries(
                    Duration.ofMillis(50), Duration.ofMillis(400), Duration.ofSeconds(30)));
    CompletableFuture<Integer> registration =
        CompletableFuture.supplyAsync(
            () -> patient.register("late-value", PromptRequest.getClassSchema()));

    Thread.sleep(1_500);
    assertFalse(registration.isDone(), "gave up or succeeded while nothing listened");
    try (EmbeddedSchemaRegistry late = startRegistry("_schemas-late-test", port)) {
      int id = registration.get(20, TimeUnit.SECONDS);
      assertEquals(PromptRequest.getClassSchema(), freshClient(late).schemaById(id));
    }
  }

  @Test
  void theClientGivesUpAfterItsRetryTimeWithATypedException() throws IOException {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    SchemaRegistryClient impatient =
        new SchemaRegistryClient(
            RegistryClientConfig.of("http://127.0.0.1:" + port)
                .withRetries(Duration.ofMillis(50), Duration.ofMillis(200), Duration.ofSeconds(1)));
    long start = System.nanoTime();
    assertThrows(RegistryUnavailableException.class, () -> impatient.schemaById(1));
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;
    assertTrue(elapsedMs >= 500 && elapsedMs < 5_000, "gave up after " + elapsedMs + " ms");
  }

  private static SchemaRegistryClient freshClient() {
    return freshClient(registry);
  }

  private static SchemaRegistryClient freshClient(EmbeddedSchemaRegistry server) {
    return new SchemaRegistryClient(RegistryClientConfig.of(server.url().toString()));
  }

  /** {@code schema} with one more field, as a schema author would edit it. */
  static Schema withField(Schema schema, String fieldJson) {
    String text = schema.toString();
    int fieldsStart = text.indexOf("\"fields\":[") + "\"fields\":[".length();
    return new Schema.Parser()
        .parse(text.substring(0, fieldsStart) + fieldJson + "," + text.substring(fieldsStart));
  }
}
