package io.latentstream.registry.embedded;

import java.util.List;

/**
 * Where the embedded registry keeps its log of schema and config changes. The registry applies an
 * entry only after {@link #append} returned, so what it answered is always durable in the storage.
 */
interface SchemaStorage extends AutoCloseable {
  /** Prepares the storage (creates the topic) and returns every entry written so far, in order. */
  List<SchemasTopicFormat.Entry> open();

  /**
   * Writes {@code entry} durably.
   *
   * @throws IllegalStateException when the write failed or timed out
   */
  void append(SchemasTopicFormat.Entry entry);

  /** What the log says in messages, e.g. {@code topic _schemas}. */
  String describe();

  @Override
  void close();

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
