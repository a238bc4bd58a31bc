package io.latentstream.registry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentstream.registry.RegistryException;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.TokenEvent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The embedded registry without a broker (what {@code TopologyTestDriver} tests will use): the same
 * HTTP server and rules, schemas kept in memory. Also the client's basic auth against it.
 */
class InMemoryRegistryTest {
  private EmbeddedSchemaRegistry registry;

  @BeforeEach
  void start() throws IOException {
    registry = EmbeddedSchemaRegistry.inMemory().start();
  }

  @AfterEach
  void stop() {
    registry.stop();
  }

  private SchemaRegistryClient client() {
    return new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
  }

  @Test
  void serdesRoundTripThroughTheInMemoryRegistry() {
    Serde<TokenEvent> serde = AvroSerdes.specific(TokenEvent.class, client());
    TokenEvent event = WireFormatTest.knownTokenEvent();
    byte[] bytes = serde.serializer().serialize("tokens", event);
    assertEquals(event, serde.deserializer().deserialize("tokens", bytes));
    assertEquals(1, WireFormat.schemaId(bytes), "first schema of a fresh registry");
    assertEquals(TokenEvent.getClassSchema(), client().latestVersion("tokens-value").schema());
  }

  @Test
  void withoutAutoRegistrationTheSerializerOnlyUsesRegisteredSchemas() {
    AvroSerdes.Config lookUpOnly = new AvroSerdes.Config(false, false);
    Serde<TokenEvent> serde = AvroSerdes.specific(TokenEvent.class, client(), lookUpOnly);
    TokenEvent event = WireFormatTest.knownTokenEvent();
    assertThrows(SerializationException.class, () -> serde.serializer().serialize("tokens", event));
    assertEquals(0, client().subjects().size(), "nothing registered");

    int id = client().register("tokens-value", TokenEvent.getClassSchema());
    assertEquals(id, WireFormat.schemaId(serde.serializer().serialize("tokens", event)));
  }

  @Test
  void decodingCodesMapOntoTheErrorTopicsCodes() {
    var e =
        assertThrows(
            RecordDecodingException.class,
            () ->
                AvroSerdes.specific(TokenEvent.class, client())
                    .deserializer()
                    .deserialize("tokens", new byte[] {0, 0, 0, 0, 42, 1}));
    assertEquals(ErrorCode.UNKNOWN_SCHEMA_ID, e.errorCode());

    GenerationError error =
        e.toGenerationError("prompts", 3, 17L, "key".getBytes(), Instant.ofEpochMilli(9));
    assertEquals(ErrorCode.UNKNOWN_SCHEMA_ID, error.getCode());
    assertEquals("prompts", error.getSourceTopic());
    assertEquals(3, error.getSourcePartition());
    assertEquals(17L, error.getSourceOffset());
    assertEquals(ByteBuffer.wrap("key".getBytes()), error.getOriginalKey());
    assertEquals(ByteBuffer.wrap(new byte[] {0, 0, 0, 0, 42, 1}), error.getOriginalValue());
    assertNull(error.getRequestId());
    // It travels as any other record: the errors topic's own serde accepts it.
    Serde<GenerationError> errors = AvroSerdes.specific(GenerationError.class, client());
    assertEquals(
        error, errors.deserializer().deserialize("e", errors.serializer().serialize("e", error)));
  }

  @Test
  void basicAuthIsSentByTheClientAndEnforcedByTheServer() throws IOException {
    try (EmbeddedSchemaRegistry secured =
        EmbeddedSchemaRegistry.inMemory(
                EmbeddedRegistryConfig.of("unused:0").withBasicAuth("svc:s3cret"))
            .start()) {
      RegistryClientConfig config = RegistryClientConfig.of(secured.url().toString());

      RegistryException anonymous =
          assertThrows(RegistryException.class, () -> new SchemaRegistryClient(config).subjects());
      assertEquals(401, anonymous.httpStatus());
      RegistryException wrong =
          assertThrows(
              RegistryException.class,
              () -> new SchemaRegistryClient(config.withBasicAuth("svc:guess")).subjects());
      assertEquals(401, wrong.httpStatus());

      SchemaRegistryClient authorized =
          new SchemaRegistryClient(config.withBasicAuth("svc:s3cret"));
      int id = authorized.register("tokens-value", TokenEvent.getClassSchema());
      assertEquals(TokenEvent.getClassSchema(), authorized.schemaById(id));
      assertEquals(false, config.withBasicAuth("svc:s3cret").toString().contains("s3cret"));
    }
  }
}
