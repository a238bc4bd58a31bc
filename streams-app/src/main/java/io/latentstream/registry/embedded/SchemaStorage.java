package io.latentstream.registry.embedded;

import java.util.List;

/**
 * Where the embedded registry keeps its log of schema and config changes. The registry applies an
 * entry only after {@link #append} returned, so what it answered is always durable in the storage.
 * A failed append leaves its outcome unknown (a commit that timed out may still have landed), so
 * the registry then closes and opens the storage again and reads back what it holds.
 */
interface SchemaStorage extends AutoCloseable {
  /**
   * Prepares the storage (creates the topic) and returns every entry written so far, in order.
   * Callable again after {@link #close()}: a reopened storage writes as a fresh one would.
   */
  List<SchemasTopicFormat.Entry> open();

  /**
   * Writes {@code entry} durably.
   *
   * @throws TakenOver once another registry instance writes this storage
   * @throws IllegalStateException when the write failed or timed out; whether it landed is unknown
   */
  void append(SchemasTopicFormat.Entry entry);

  /** What the log says in messages, e.g. {@code topic _schemas}. */
  String describe();

  @Override
  void close();

  /**
   * Another registry instance took over the storage. This one must neither write again nor reopen
   * (reopening would take the storage back from the newer instance).
   */
  final class TakenOver extends IllegalStateException {
    TakenOver(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * A storage in memory: for unit tests of code that needs a registry but no broker (e.g. with
   * {@code TopologyTestDriver}). The same instance given to a new registry behaves like a restart.
   */
  static SchemaStorage inMemory() {
    return new SchemaStorage() {
      private final List<SchemasTopicFormat.Entry> entries =
          java.util.Collections.synchronizedList(new java.util.ArrayList<>());

      @Override
      public List<SchemasTopicFormat.Entry> open() {
        synchronized (entries) {
          return List.copyOf(entries);
        }
      }

      @Override
      public void append(SchemasTopicFormat.Entry entry) {
        entries.add(entry);
      }

      @Override
      public String describe() {
        return "memory";
      }

      @Override
      public void close() {}
    };
  }
}
