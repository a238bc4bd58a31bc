package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Runs against a real RocksDB store with its changelog, hosted by Kafka's TopologyTestDriver. */
class SessionCacheStoreTest {
  private static final int BYTES_PER_TOKEN = 24;
  private static final int CHUNK_BYTES = 100; // 4 tokens a chunk, so a few tokens span chunks

  private TopologyTestDriver driver;
  private KeyValueStore<String, byte[]> rocks;
  private SessionCacheStore sessions;

  @BeforeEach
  void startStore() throws Exception {
    Topology topology = new Topology();
    topology.addSource(
        "in", Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer(), "unused");
    topology.addProcessor("noop", () -> (Processor<byte[], byte[], Void, Void>) this::ignore, "in");
    topology.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore("session-cache"), Serdes.String(), Serdes.ByteArray()),
        "noop");
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, "session-cache-test");
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    Path stateDir = Files.createTempDirectory("session-cache");
    config.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    driver = new TopologyTestDriver(topology, config);
    rocks = driver.getKeyValueStore("session-cache");
    sessions = new SessionCacheStore(rocks, BYTES_PER_TOKEN, "cpu", CHUNK_BYTES);
  }

  private void ignore(Record<byte[], byte[]> record) {}

  @AfterEach
  void close() {
    driver.close();
  }

  private static byte[] cacheOf(int tokens, long seed) {
    byte[] bytes = new byte[tokens * BYTES_PER_TOKEN];
    new Random(seed).nextBytes(bytes);
    return bytes;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] both = new byte[a.length + b.length];
    System.arraycopy(a, 0, both, 0, a.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }

  @Test
  void turnsAppendToTheCacheAcrossChunkBoundaries() {
    SessionKey key = new SessionKey("acme", "chat-1");
    byte[] first = cacheOf(6, 1); // chunks 0 (4 tokens) and 1 (2 tokens)
    sessions.append(key, new int[] {0, 5, 6, 7, 8, 9, 10}, 6, first, 1_000);
    byte[] second = cacheOf(5, 2); // completes chunk 1, then chunk 2 holds 3 tokens
    SessionEntry entry =
        sessions.append(key, new int[] {0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, 11, second, 2_000);

    assertEquals(11, entry.cachedTokens());
    SessionEntry stored = sessions.entry(key).orElseThrow();
    assertEquals(11, stored.history().length);
    assertEquals(2_000, stored.lastUsedMs());
    assertArrayEquals(concat(first, second), sessions.readCache(key, stored));
    for (int chunk = 0; chunk < 3; chunk++) {
      assertTrue(rocks.get(key.chunkKey(chunk)).length <= CHUNK_BYTES, "chunk " + chunk);
    }
  }

  @Test
  void anotherBackendsLatentsAreNotResumedAndTheNextTurnReplacesThem() {
    SessionKey key = new SessionKey("acme", "moved");
    SessionCacheStore cuda = new SessionCacheStore(rocks, BYTES_PER_TOKEN, "cuda", CHUNK_BYTES);
    cuda.append(key, new int[] {0, 5, 6, 7, 8, 9, 10}, 6, cacheOf(6, 8), 1_000);
    SessionEntry written = sessions.entry(key).orElseThrow();
    assertEquals("cuda", written.backend());
    assertEquals(6, cuda.resumableTokens(written));
    assertEquals(0, sessions.resumableTokens(written), "the CPU must recompute the prefix");

    // The CPU's turn writes its own latents of the whole context from token 0.
    byte[] cpu = cacheOf(9, 9);
    sessions.append(key, new int[] {0, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 9, cpu, 2_000);
    SessionEntry replaced = sessions.entry(key).orElseThrow();
    assertEquals("cpu", replaced.backend());
    assertEquals(9, sessions.resumableTokens(replaced));
    assertArrayEquals(cpu, sessions.readCache(key, replaced));
    assertEquals(0, cuda.resumableTokens(replaced));
  }

  @Test
  void entriesOfTheFirstFormatWereTheCpuEngines() {
    byte[] v1 = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2};
    v1 = concat(v1, new byte[] {0, 0, 0, 3, 0, 0, 0, 4});
    SessionEntry entry = SessionEntry.fromBytes(v1);
    assertEquals("cpu", entry.backend());
    assertEquals(2, entry.cachedTokens());
    assertEquals(16, entry.cacheBytes());
    assertEquals(7, entry.lastUsedMs());
    assertArrayEquals(new int[] {3, 4}, entry.history());
    assertArrayEquals(v1, withoutBackend(entry.toBytes()));
  }

  /** A format-2 entry's bytes as format 1 wrote them: version 1, no backend. */
  private static byte[] withoutBackend(byte[] v2) {
    int backendAt = 1 + 4 + 8 + 8;
    int backendLength = 2 + ((v2[backendAt] & 0xff) << 8 | (v2[backendAt + 1] & 0xff));
    byte[] v1 = new byte[v2.length - backendLength];
    System.arraycopy(v2, 0, v1, 0, backendAt);
    System.arraycopy(v2, backendAt + backendLength, v1, backendAt, v1.length - backendAt);
    v1[0] = 1;
    return v1;
  }

  @Test
  void tenantsNeverShareASession() {
    sessions.append(new SessionKey("acme", "s"), new int[] {1, 2}, 2, cacheOf(2, 3), 0);
    assertFalse(sessions.entry(new SessionKey("globex", "s")).isPresent());
    // Separators inside ids cannot forge another tenant's key.
    assertFalse(sessions.entry(new SessionKey("acme/s", "x")).isPresent());
    assertFalse(sessions.entry(new SessionKey("acme", "s#00000000")).isPresent());
  }

  @Test
  void aWrongNumberOfCacheBytesIsRefused() {
    SessionKey key = new SessionKey("acme", "s");
    assertThrows(
        IllegalArgumentException.class,
        () -> sessions.append(key, new int[] {1, 2, 3}, 3, cacheOf(2, 4), 0));
  }

  @Test
  void theTtlForgetsSessionsAndTheSizeBoundDropsOnlyTheLeastRecentlyUsedCaches() {
    SessionKey old = new SessionKey("t", "old");
    SessionKey middle = new SessionKey("t", "middle");
    SessionKey recent = new SessionKey("t", "recent");
    int[] middleHistory = {11, 12, 13, 14, 15, 16};
    sessions.append(old, new int[5], 5, cacheOf(5, 5), 100);
    sessions.append(middle, middleHistory, 5, cacheOf(5, 6), 5_000);
    sessions.append(recent, new int[5], 5, cacheOf(5, 7), 9_000);

    // TTL 8 s at t = 10 s forgets "old"; a budget of two sessions' bytes keeps the other two.
    assertEquals(
        new SessionCacheStore.Evicted(1, 0),
        sessions.evict(10_000, 8_000, 2 * 5 * BYTES_PER_TOKEN));
    assertFalse(sessions.entry(old).isPresent());
    // A budget of one session's bytes then drops the cache of "middle", the least recently used,
    // and keeps its history so that its next turn recomputes the prefix.
    assertEquals(
        new SessionCacheStore.Evicted(0, 1), sessions.evict(10_000, 8_000, 5 * BYTES_PER_TOKEN));
    SessionEntry uncached = sessions.entry(middle).orElseThrow();
    assertArrayEquals(middleHistory, uncached.history());
    assertEquals(0, uncached.cachedTokens());
    assertEquals(0, uncached.cacheBytes());
    assertEquals(5_000, uncached.lastUsedMs());
    assertEquals(5, sessions.entry(recent).orElseThrow().cachedTokens());
    int chunks = 0;
    try (KeyValueIterator<String, byte[]> all = rocks.all()) {
      while (all.hasNext()) {
        String key = all.next().key;
        if (SessionKey.isChunkKey(key)) {
          assertTrue(key.startsWith(recent.storeKey()), key);
          chunks++;
        }
      }
    }
    assertEquals(2, chunks, "only the recent session's two chunks are left");
    // The next turn of "middle" caches its whole history again.
    int[] longer = {11, 12, 13, 14, 15, 16, 17};
    sessions.append(middle, longer, 7, cacheOf(7, 8), 11_000);
    assertArrayEquals(
        cacheOf(7, 8), sessions.readCache(middle, sessions.entry(middle).orElseThrow()));
  }
}
