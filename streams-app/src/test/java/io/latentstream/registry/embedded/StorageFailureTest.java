package io.latentstream.registry.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.RegistryUnavailableException;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.TokenEvent;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How the registry meets a storage write that fails: the outcome of such a write is unknown (a
 * Kafka commit that timed out may have landed, and its producer cannot go on), so the registry
 * rereads the storage before the next write and the client's retry then finds the truth. The
 * storage here is the in-memory one with a fault switched in; {@link EmbeddedSchemaRegistryTest}
 * covers the Kafka storage's reopening against a real broker.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StorageFailureTest {

  @Test
  void aWriteThatLandedButReportedFailureIsFoundByTheRetryNotWrittenTwice() throws IOException {
    FaultyStorage storage = new FaultyStorage();
    try (EmbeddedSchemaRegistry registry = start(storage)) {
      SchemaRegistryClient client = retrying(registry);
      int tokens = client.register("tokens-value", TokenEvent.getClassSchema());

      storage.failNextAppend(true);
      int completions = client.register("completions-value", Completion.getClassSchema());

      List<SchemasTopicFormat.Entry> stored = storage.stored();
      assertEquals(2, stored.size(), "the landed write was written again: " + stored);
      assertEquals(
          new SchemasTopicFormat.SchemaEntry(
              "completions-value", 1, completions, Completion.getClassSchema().toString()),
          stored.get(1));
      assertEquals(2, storage.opens, "start, then one reread after the failed write");
      assertEquals(tokens + 1, completions, "ids are handed out once, in order");
    }
  }

  @Test
  void aWriteThatFailedBeforeLandingIsWrittenOnceByTheRetry() throws IOException {
    FaultyStorage storage = new FaultyStorage();
    try (EmbeddedSchemaRegistry registry = start(storage)) {
      SchemaRegistryClient client = retrying(registry);
      storage.failNextAppend(false);
      int id = client.register("tokens-value", TokenEvent.getClassSchema());

      assertEquals(
          List.of(
              new SchemasTopicFormat.SchemaEntry(
                  "tokens-value", 1, id, TokenEvent.getClassSchema().toString())),
          storage.stored());
    }
  }

  @Test
  void aStorageThatCannotBeReopenedAnswersWritesWith500UntilItCan() throws IOException {
    FaultyStorage storage = new FaultyStorage();
    try (EmbeddedSchemaRegistry registry = start(storage)) {
      SchemaRegistryClient impatient =
          new SchemaRegistryClient(
              RegistryClientConfig.of(registry.url().toString())
                  .withRetries(
                      Duration.ofMillis(20), Duration.ofMillis(50), Duration.ofMillis(500)));
      storage.failNextAppend(false);
      storage.refuseOpening = true;
      assertThrows(
          RegistryUnavailableException.class,
          () -> impatient.register("tokens-value", TokenEvent.getClassSchema()));

      storage.refuseOpening = false;
      int id = retrying(registry).register("tokens-value", TokenEvent.getClassSchema());
      assertEquals(TokenEvent.getClassSchema(), retrying(registry).schemaById(id));
    }
  }

  private static EmbeddedSchemaRegistry start(SchemaStorage storage) throws IOException {
    return EmbeddedSchemaRegistry.on(EmbeddedRegistryConfig.of("unused:0"), storage).start();
  }

  private static SchemaRegistryClient retrying(EmbeddedSchemaRegistry registry) {
    return new SchemaRegistryClient(
        RegistryClientConfig.of(registry.url().toString())
            .withRetries(Duration.ofMillis(20), Duration.ofMillis(50), Duration.ofSeconds(10)));
  }

  /**
   * The in-memory storage with one fault switched in: the next append fails, after storing its
   * entry (a commit that timed out but landed) or before; or opening fails (a broker still away).
   */
  private static final class FaultyStorage implements SchemaStorage {
    private final SchemaStorage memory = SchemaStorage.inMemory();
    private volatile Boolean nextAppendFailsAfterStoring;
    volatile int opens;
    volatile boolean refuseOpening;

    List<SchemasTopicFormat.Entry> stored() {
      return memory.open();
    }

    void failNextAppend(boolean afterStoring) {
      nextAppendFailsAfterStoring = afterStoring;
    }

    @Override
    public List<SchemasTopicFormat.Entry> open() {
      if (refuseOpening) {
        throw new IllegalStateException("the broker did not answer");
      }
      opens++;
      return memory.open();
    }

    @Override
    public void append(SchemasTopicFormat.Entry entry) {
      Boolean fault = nextAppendFailsAfterStoring;
      nextAppendFailsAfterStoring = null;
      if (fault == null || fault) {
        memory.append(entry);
      }
      if (fault != null) {
        throw new IllegalStateException("commit timed out");
      }
    }

    @Override
    public String describe() {
      return "faulty memory";
    }

    @Override
    public void close() {}
  }
}
