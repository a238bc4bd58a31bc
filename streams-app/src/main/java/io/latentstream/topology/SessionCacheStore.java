package io.latentstream.topology;

import io.latentstream.engine.Engine;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * Sessions' token histories and MLA latent caches in a Kafka Streams key-value store (RocksDB with
 * a changelog topic), so a multi-turn session resumes without recomputing its prefix, also on
 * another instance after a failover.
 *
 * <p>The latent cache of a session is split into chunks of whole tokens, each small enough for one
 * changelog record (DeepSeek-V3 needs 70,272 bytes per token in bf16, so one record per session
 * would pass Kafka's 1 MiB default within 15 tokens). A new turn rewrites only the last, partial
 * chunk and adds new ones, so the changelog carries what changed rather than the whole cache.
 *
 * <p>Latents are resumed only by the backend that computed them (an entry records it): a session
 * whose cache another backend wrote recomputes its prefix, and its next turn replaces that cache.
 */
public final class SessionCacheStore {
  /** Room left in a 1 MiB record for the key, headers and batch overhead. */
  public static final int MAX_CHUNK_BYTES = 1_000_000;

  private final KeyValueStore<String, byte[]> store;
  private final int bytesPerToken;
  private final String backend;
  private final int tokensPerChunk;

  /** The store of an engine: its bytes per token and its backend. */
  public SessionCacheStore(KeyValueStore<String, byte[]> store, Engine engine) {
    this(store, engine.bytesPerToken(), engine.backend(), MAX_CHUNK_BYTES);
  }

  SessionCacheStore(
      KeyValueStore<String, byte[]> store, int bytesPerToken, String backend, int maxChunkBytes) {
    if (bytesPerToken <= 0 || bytesPerToken > maxChunkBytes) {
      throw new IllegalArgumentException(
          "a token's cache (" + bytesPerToken + " bytes) must fit a chunk of " + maxChunkBytes);
    }
    this.store = store;
    this.bytesPerToken = bytesPerToken;
    this.backend = backend;
    this.tokensPerChunk = maxChunkBytes / bytesPerToken;
  }

  public Optional<SessionEntry> entry(SessionKey key) {
    return entry(store, key);
  }

  /** A session's entry from any view of the store, e.g. an interactive query's read-only one. */
  public static Optional<SessionEntry> entry(
      ReadOnlyKeyValueStore<String, byte[]> store, SessionKey key) {
    byte[] bytes = store.get(key.storeKey());
    return bytes == null ? Optional.empty() : Optional.of(SessionEntry.fromBytes(bytes));
  }

  /** How many of the entry's cached tokens this store's backend can resume from. */
  public int resumableTokens(SessionEntry entry) {
    return entry.backend().equals(backend) ? entry.cachedTokens() : 0;
  }

  /** The latent cache of the entry's first {@code cachedTokens} tokens, in token order. */
  public byte[] readCache(SessionKey key, SessionEntry entry) {
    ByteArrayOutputStream cache = new ByteArrayOutputStream((int) entry.cacheBytes());
    for (int chunk = 0; chunk < chunkCount(entry.cachedTokens()); chunk++) {
      byte[] bytes = store.get(key.chunkKey(chunk));
      if (bytes == null) {
        throw new IllegalStateException("session " + key + " lost cache chunk " + chunk);
      }
      cache.writeBytes(bytes);
    }
    if (cache.size() != entry.cacheBytes()) {
      throw new IllegalStateException(
          "session "
              + key
              + " has "
              + cache.size()
              + " cache bytes, expected "
              + entry.cacheBytes());
    }
    return cache.toByteArray();
  }

  /**
   * Records a turn: the whole new history, and the latent cache of the tokens cached since the
   * previous turn ({@code appended} holds tokens [previous cachedTokens, cachedTokens)).
   */
  public SessionEntry append(
      SessionKey key, int[] history, int cachedTokens, byte[] appended, long nowMs) {
    SessionEntry previous = entry(key).orElse(null);
    int before = previous == null ? 0 : resumableTokens(previous);
    if (previous != null && before == 0) {
      deleteChunks(key.storeKey(), previous); // another backend's latents, replaced from token 0
    }
    if (cachedTokens < before || appended.length != (cachedTokens - before) * bytesPerToken) {
      throw new IllegalArgumentException(
          "cache bytes for tokens ["
              + before
              + ", "
              + cachedTokens
              + ") must be "
              + (cachedTokens - before) * bytesPerToken
              + " bytes, got "
              + appended.length);
    }
    int firstChunk = before / tokensPerChunk;
    byte[] partial =
        before % tokensPerChunk == 0 ? new byte[0] : store.get(key.chunkKey(firstChunk));
    byte[] tail = new byte[partial.length + appended.length];
    System.arraycopy(partial, 0, tail, 0, partial.length);
    System.arraycopy(appended, 0, tail, partial.length, appended.length);
    int chunkBytes = tokensPerChunk * bytesPerToken;
    List<KeyValue<String, byte[]>> writes = new ArrayList<>();
    for (int offset = 0, chunk = firstChunk; offset < tail.length; offset += chunkBytes, chunk++) {
      int length = Math.min(chunkBytes, tail.length - offset);
      byte[] bytes = new byte[length];
      System.arraycopy(tail, offset, bytes, 0, length);
      writes.add(KeyValue.pair(key.chunkKey(chunk), bytes));
    }
    SessionEntry entry =
        new SessionEntry(
            history, cachedTokens, (long) cachedTokens * bytesPerToken, nowMs, backend);
    writes.add(KeyValue.pair(key.storeKey(), entry.toBytes()));
    store.putAll(writes);
    return entry;
  }

  /** Forgets a session: its entry and every cache chunk. */
  public void delete(SessionKey key) {
    entry(key).ifPresent(entry -> delete(key.storeKey(), entry));
  }

  private void delete(String storeKey, SessionEntry entry) {
    deleteChunks(storeKey, entry);
    store.delete(storeKey);
  }

  private void deleteChunks(String storeKey, SessionEntry entry) {
    for (int chunk = 0; chunk < chunkCount(entry.cachedTokens()); chunk++) {
      store.delete(SessionKey.chunkKey(storeKey, chunk));
    }
  }

  /** What one eviction pass removed. */
  public record Evicted(int sessions, int caches) {}

  /**
   * Forgets sessions unused for {@code ttlMs}, then drops the latent caches of the least recently
   * used ones until the caches take at most {@code maxBytes}.
   *
   * <p>Only the TTL forgets a conversation. The size bound drops a cache but keeps the session's
   * token history, so its next turn recomputes the prefix and generates exactly what it would have
   * generated from the cache: memory pressure never changes what a session produces, which keeps
   * audit replays independent of it.
   */
  public Evicted evict(long nowMs, long ttlMs, long maxBytes) {
    record Candidate(String storeKey, SessionEntry entry) {}
    List<Candidate> sessions = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> all = store.all()) {
      while (all.hasNext()) {
        KeyValue<String, byte[]> next = all.next();
        if (!SessionKey.isChunkKey(next.key)) {
          sessions.add(new Candidate(next.key, SessionEntry.fromBytes(next.value)));
        }
      }
    }
    sessions.sort(Comparator.comparingLong(candidate -> candidate.entry().lastUsedMs()));
    long total = sessions.stream().mapToLong(candidate -> candidate.entry().cacheBytes()).sum();
    int forgotten = 0;
    int dropped = 0;
    for (Candidate candidate : sessions) {
      SessionEntry entry = candidate.entry();
      if (nowMs - entry.lastUsedMs() > ttlMs) {
        delete(candidate.storeKey(), entry);
        total -= entry.cacheBytes();
        forgotten++;
      } else if (total > maxBytes && entry.cachedTokens() > 0) {
        dropCache(candidate.storeKey(), entry);
        total -= entry.cacheBytes();
        dropped++;
      }
    }
    return new Evicted(forgotten, dropped);
  }

  /** Deletes a session's cache chunks and keeps its history, with no tokens cached. */
  private void dropCache(String storeKey, SessionEntry entry) {
    deleteChunks(storeKey, entry);
    store.put(
        storeKey,
        new SessionEntry(entry.history(), 0, 0, entry.lastUsedMs(), entry.backend()).toBytes());
  }

  private int chunkCount(int cachedTokens) {
    return (cachedTokens + tokensPerChunk - 1) / tokensPerChunk;
  }
}
