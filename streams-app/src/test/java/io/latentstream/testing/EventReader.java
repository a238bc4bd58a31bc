package io.latentstream.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.topology.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads a deployment's outputs back as a downstream consumer sees them (read_committed, from the
 * earliest offsets, in a group of its own) and decodes each record with the value serde its topic
 * has in {@link Topics}. What was read is kept per topic in the order read, and tokens (of token
 * events and chunks alike, a chunk's tokens one by one) and completions also per request id, so
 * that tests wait for and assert on events rather than on consumer loops.
 */
public final class EventReader implements AutoCloseable {
  /** Short, so that a test polling in a loop checks its condition several times a second. */
  private static final Duration POLL = Duration.ofMillis(100);

  private final KafkaConsumer<String, byte[]> consumer;
  private final Map<String, Deserializer<?>> deserializers = new HashMap<>();
  private final Map<String, List<Object>> byTopic = new LinkedHashMap<>();
  private final Map<String, List<Integer>> indices = new LinkedHashMap<>();
  private final Map<String, List<Integer>> tokenIds = new LinkedHashMap<>();
  private final Map<String, Set<TokenEventForm>> forms = new HashMap<>();
  private final Map<String, Completion> completions = new LinkedHashMap<>();
  private final Map<String, Integer> completionCounts = new LinkedHashMap<>();
  private final List<GenerationError> errors = new ArrayList<>();
  private Consumer<ConsumerRecord<String, byte[]>> check = record -> {};

  private EventReader(
      KafkaConsumer<String, byte[]> consumer, List<Topics.Topic<String, ?>> topics) {
    this.consumer = consumer;
    for (Topics.Topic<String, ?> topic : topics) {
      deserializers.put(topic.name(), topic.valueSerde().deserializer());
      byTopic.put(topic.name(), new ArrayList<>());
    }
    consumer.subscribe(deserializers.keySet());
  }

  /** A reader of these topics of the {@link SharedKafkaCluster}. */
  @SafeVarargs
  public static EventReader committed(Topics.Topic<String, ?>... topics) {
    return new EventReader(
        SharedKafkaCluster.committedReader(new ByteArrayDeserializer()), List.of(topics));
  }

  /**
   * A reader of these topics of the cluster that {@code clientProperties} name (bootstrap servers,
   * and security settings where the cluster asks for them).
   */
  @SafeVarargs
  public static EventReader committed(
      Map<String, Object> clientProperties, Topics.Topic<String, ?>... topics) {
    return new EventReader(
        committedConsumer(clientProperties, new ByteArrayDeserializer()), List.of(topics));
  }

  /**
   * The first completion of {@code requestId} on the shared cluster, read within {@code timeout}.
   */
  public static Completion completionOf(Topics topics, String requestId, Duration timeout) {
    try (EventReader reader = committed(topics.completions())) {
      return reader.awaitCompletion(requestId, timeout);
    }
  }

  /**
   * The first generation error about {@code requestId} on the shared cluster, read within {@code
   * timeout}.
   */
  public static GenerationError errorOf(Topics topics, String requestId, Duration timeout) {
    try (EventReader reader = committed(topics.generationErrors())) {
      return reader.awaitError(requestId, timeout);
    }
  }

  /**
   * A consumer that reads what was committed (read_committed), from the earliest offsets, in a
   * group of its own, with these client properties. The group is named {@code observer-...}: a
   * secured cluster's ACLs let readers use groups with that prefix (SecureClusterTest).
   */
  public static <V> KafkaConsumer<String, V> committedConsumer(
      Map<String, Object> clientProperties, Deserializer<V> values) {
    Map<String, Object> config = new HashMap<>(clientProperties);
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    config.put(ConsumerConfig.GROUP_ID_CONFIG, "observer-" + System.nanoTime());
    return new KafkaConsumer<>(config, new StringDeserializer(), values);
  }

  /**
   * Runs {@code check} on every record as it is read, before it is decoded: for assertions on what
   * travels on the wire.
   */
  public EventReader checking(Consumer<ConsumerRecord<String, byte[]>> check) {
    this.check = check;
    return this;
  }

  /** Reads and decodes what arrives within 100 ms. */
  public void poll() {
    for (ConsumerRecord<String, byte[]> record : consumer.poll(POLL)) {
      check.accept(record);
      Object event = deserializers.get(record.topic()).deserialize(record.topic(), record.value());
      byTopic.get(record.topic()).add(event);
      if (event instanceof TokenEvent token) {
        read(token.getRequestId(), TokenEventForm.TOKEN, token.getIndex(), token.getTokenId());
      } else if (event instanceof TokenChunk chunk) {
        for (int i = 0; i < chunk.getTokenIds().size(); i++) {
          read(
              chunk.getRequestId(),
              TokenEventForm.CHUNK,
              chunk.getFirstIndex() + i,
              chunk.getTokenIds().get(i));
        }
      } else if (event instanceof Completion completion) {
        completions.putIfAbsent(completion.getRequestId(), completion);
        completionCounts.merge(completion.getRequestId(), 1, Integer::sum);
      } else if (event instanceof GenerationError error) {
        errors.add(error);
      }
    }
  }

  private void read(String requestId, TokenEventForm form, int index, int tokenId) {
    forms.computeIfAbsent(requestId, id -> EnumSet.noneOf(TokenEventForm.class)).add(form);
    indices.computeIfAbsent(requestId, id -> new ArrayList<>()).add(index);
    tokenIds.computeIfAbsent(requestId, id -> new ArrayList<>()).add(tokenId);
  }

  /**
   * Polls until {@code done} holds; fails the test with {@code failure}'s message if it does not
   * within {@code timeout}.
   */
  public void pollUntil(Duration timeout, BooleanSupplier done, Supplier<String> failure) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, failure);
      poll();
    }
  }

  /** Keeps reading for {@code duration}: to see what should not come. */
  public void pollFor(Duration duration) {
    long end = System.nanoTime() + duration.toNanos();
    while (System.nanoTime() < end) {
      poll();
    }
  }

  /** The first {@code count} events or more of {@code topic}, read within {@code timeout}. */
  public <V> List<V> readAtLeast(Topics.Topic<String, V> topic, int count, Duration timeout) {
    List<V> read = read(topic);
    pollUntil(
        timeout,
        () -> read.size() >= count,
        () -> "read " + read.size() + " of " + count + " events of " + topic.name() + ": " + read);
    return List.copyOf(read);
  }

  /** The first completion of {@code requestId}, read within {@code timeout}. */
  public Completion awaitCompletion(String requestId, Duration timeout) {
    pollUntil(
        timeout, () -> completions.containsKey(requestId), () -> "no completion for " + requestId);
    return completions.get(requestId);
  }

  /** The first generation error about {@code requestId}, read within {@code timeout}. */
  public GenerationError awaitError(String requestId, Duration timeout) {
    pollUntil(timeout, () -> error(requestId) != null, () -> "no error for " + requestId);
    return error(requestId);
  }

  /**
   * Polls until every one of {@code requests} has completed and as many of its tokens as its
   * completion counts have been read. The token and completion topics are fetched independently, so
   * a completion can be read before its request's last tokens; a token that never arrives fails the
   * test at the deadline.
   */
  public void awaitCompletedWithTokens(Collection<String> requests, Duration timeout) {
    pollUntil(
        timeout,
        () -> completedWithTokens(requests),
        () ->
            "not every request completed with all its tokens: completions "
                + completions.keySet()
                + " of "
                + requests
                + ", tokens read "
                + indices);
  }

  /** Whether these requests completed and every one of their tokens has been read. */
  public boolean completedWithTokens(Collection<String> requests) {
    return requests.stream()
        .allMatch(
            id ->
                completions.containsKey(id)
                    && tokenCount(id) >= completions.get(id).getTokenIds().size());
  }

  /** Whether every partition of the topics read is assigned to this reader and read to its end. */
  public boolean caughtUp() {
    Set<TopicPartition> assigned = consumer.assignment();
    int partitions =
        deserializers.keySet().stream().mapToInt(t -> consumer.partitionsFor(t).size()).sum();
    if (assigned.size() < partitions) {
      return false;
    }
    Map<TopicPartition, Long> end = consumer.endOffsets(assigned);
    return assigned.stream().allMatch(p -> consumer.position(p) >= end.get(p));
  }

  /**
   * Every event read from {@code topic} (one this reader reads), in the order read: a live view.
   */
  @SuppressWarnings("unchecked") // each topic's records were decoded by that topic's own serde
  public <V> List<V> read(Topics.Topic<String, V> topic) {
    List<Object> events =
        Objects.requireNonNull(byTopic.get(topic.name()), () -> "not read here: " + topic.name());
    return Collections.unmodifiableList((List<V>) events);
  }

  /** The index of every token of {@code requestId} read, in the order read. */
  public List<Integer> indices(String requestId) {
    return Collections.unmodifiableList(indices.getOrDefault(requestId, List.of()));
  }

  /** The token indices read, per request. */
  public Map<String, List<Integer>> indices() {
    return Collections.unmodifiableMap(indices);
  }

  /** The id of every token of {@code requestId} read, in the order read. */
  public List<Integer> tokenIds(String requestId) {
    return Collections.unmodifiableList(tokenIds.getOrDefault(requestId, List.of()));
  }

  /** The forms of the events read of {@code requestId}'s tokens (a request keeps one). */
  public Set<TokenEventForm> forms(String requestId) {
    return Collections.unmodifiableSet(forms.getOrDefault(requestId, Set.of()));
  }

  /** How many tokens of {@code requestId} were read. */
  public int tokenCount(String requestId) {
    return indices(requestId).size();
  }

  /** The first completion read of each request that completed. */
  public Map<String, Completion> completions() {
    return Collections.unmodifiableMap(completions);
  }

  /** How many completions were read of each request that completed (exactly-once: one each). */
  public Map<String, Integer> completionCounts() {
    return Collections.unmodifiableMap(completionCounts);
  }

  /** Whether a completion of {@code requestId} was read. */
  public boolean completed(String requestId) {
    return completions.containsKey(requestId);
  }

  /** The first generation error read about {@code requestId}, or null. */
  public GenerationError error(String requestId) {
    return errors.stream().filter(e -> requestId.equals(e.getRequestId())).findFirst().orElse(null);
  }

  /** Everything read, by topic: for failure messages. */
  @Override
  public String toString() {
    return byTopic.toString();
  }

  @Override
  public void close() {
    consumer.close(Duration.ofSeconds(5));
  }
}
