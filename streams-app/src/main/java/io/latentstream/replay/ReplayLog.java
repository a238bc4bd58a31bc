package io.latentstream.replay;

import io.latentstream.registry.client.RecordDecodingException;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.topology.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What replay reads of the event log, read_committed, each topic from its beginning to its last
 * committed record: the prompts, and the tokens (token events and chunks alike), completions and
 * refusals recorded for them.
 */
final class ReplayLog {
  /**
   * One recorded token: a token event's, or one of a chunk's (its index the chunk's first_index
   * plus its position there; the finish reason on the chunk's last token).
   */
  record RecordedToken(
      int index,
      int tokenId,
      Float logprob,
      FinishReason finishReason,
      String backend,
      String weightsDigest) {}

  /**
   * One generation of a request as recorded: the form of its events, when its first record was
   * written, and its tokens (in index order once read whole; duplicates kept, to be caught).
   */
  record Generation(TokenEventForm form, long startedAtMs, List<RecordedToken> tokens) {}

  private final Topics topics;
  private final Map<String, Object> clientProperties;
  private final Deserializer<PromptRequest> prompts;

  ReplayLog(Topics topics, Map<String, Object> clientProperties) {
    this.topics = topics;
    this.clientProperties = clientProperties;
    this.prompts = topics.prompts().valueSerde().deserializer();
  }

  /** A prompt record as (topic-partition@offset), the form errors name their source in. */
  static String source(String topic, int partition, long offset) {
    return topic + "-" + partition + "@" + offset;
  }

  /** A prompt record's request, or null when the service could not decode it either. */
  PromptRequest decode(ConsumerRecord<String, byte[]> record) {
    if (record.value() == null) {
      return null;
    }
    try {
      return prompts.deserialize(record.topic(), record.value());
    } catch (RecordDecodingException e) {
      if (e.code() == RecordDecodingException.Code.REGISTRY_UNAVAILABLE) {
        throw e;
      }
      return null;
    }
  }

  /** Whether a generation's recorded tokens end with its finish reason. */
  static boolean complete(List<RecordedToken> tokens) {
    return !tokens.isEmpty() && tokens.get(tokens.size() - 1).finishReason() != null;
  }

  /** The prompt records {@code range} reads, per partition, in offset order. */
  Map<Integer, List<ConsumerRecord<String, byte[]>>> readPrompts(Replay.Range range) {
    Map<Integer, List<ConsumerRecord<String, byte[]>>> log = new HashMap<>();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.prompts().name(), new ByteArrayDeserializer())) {
      if (range.reads(record)) {
        log.computeIfAbsent(record.partition(), p -> new ArrayList<>()).add(record);
      }
    }
    return log;
  }

  /**
   * Every committed token of {@code requests}, from token events and chunks, per request and
   * generation in the order they were generated, each generation's tokens in index order. A
   * request's events of one form are in one partition of their topic, in the order they were
   * produced: an index 0 after a finished generation starts the next one. A request id accepted
   * again may have chosen the other form: its generations of both topics are ordered by the time of
   * their first record.
   */
  Map<String, List<Generation>> readTokens(Set<String> requests) {
    Map<String, List<Generation>> byRequest = new HashMap<>();
    Deserializer<TokenEvent> events = topics.tokens().valueSerde().deserializer();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.tokens().name(), new ByteArrayDeserializer())) {
      TokenEvent event = events.deserialize(record.topic(), record.value());
      if (requests.contains(event.getRequestId())) {
        RecordedToken token =
            new RecordedToken(
                event.getIndex(),
                event.getTokenId(),
                event.getLogprob(),
                event.getFinishReason(),
                event.getBackend(),
                event.getWeightsDigest());
        add(byRequest, event.getRequestId(), TokenEventForm.TOKEN, record, List.of(token));
      }
    }
    Deserializer<TokenChunk> chunks = topics.tokenChunks().valueSerde().deserializer();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.tokenChunks().name(), new ByteArrayDeserializer())) {
      TokenChunk chunk = chunks.deserialize(record.topic(), record.value());
      if (requests.contains(chunk.getRequestId())) {
        add(byRequest, chunk.getRequestId(), TokenEventForm.CHUNK, record, tokens(chunk));
      }
    }
    for (List<Generation> generations : byRequest.values()) {
      generations.sort(Comparator.comparingLong(Generation::startedAtMs));
      generations.forEach(g -> g.tokens().sort(Comparator.comparingInt(RecordedToken::index)));
    }
    return byRequest;
  }

  /** A chunk's tokens one by one, in output order. */
  private static List<RecordedToken> tokens(TokenChunk chunk) {
    List<RecordedToken> tokens = new ArrayList<>();
    int n = chunk.getTokenIds().size();
    for (int i = 0; i < n; i++) {
      tokens.add(
          new RecordedToken(
              chunk.getFirstIndex() + i,
              chunk.getTokenIds().get(i),
              i < chunk.getLogprobs().size() ? chunk.getLogprobs().get(i) : null,
              i == n - 1 ? chunk.getFinishReason() : null,
              chunk.getBackend(),
              chunk.getWeightsDigest()));
    }
    return tokens;
  }

  /**
   * Adds what one record of {@code form} holds of a request to its latest generation of that form,
   * or to a new one: its first, or one starting at index 0 after a finished one.
   */
  private static void add(
      Map<String, List<Generation>> byRequest,
      String requestId,
      TokenEventForm form,
      ConsumerRecord<String, byte[]> record,
      List<RecordedToken> tokens) {
    if (tokens.isEmpty()) {
      return; // an empty chunk (the service writes none) adds nothing
    }
    List<Generation> generations = byRequest.computeIfAbsent(requestId, id -> new ArrayList<>());
    Generation latest =
        generations.stream().filter(g -> g.form() == form).reduce((a, b) -> b).orElse(null);
    if (latest == null || (tokens.get(0).index() == 0 && complete(latest.tokens()))) {
      latest = new Generation(form, record.timestamp(), new ArrayList<>());
      generations.add(latest);
    }
    latest.tokens().addAll(tokens);
  }

  /**
   * The prompt records (topic-partition@offset) the service refused, with the code of the error
   * that names each.
   */
  Map<String, ErrorCode> readRefusals() {
    Map<String, ErrorCode> refused = new HashMap<>();
    Deserializer<GenerationError> errors = topics.generationErrors().valueSerde().deserializer();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.generationErrors().name(), new ByteArrayDeserializer())) {
      GenerationError error = errors.deserialize(record.topic(), record.value());
      if (error.getSourceTopic() != null
          && error.getSourcePartition() != null
          && error.getSourceOffset() != null) {
        refused.put(
            source(error.getSourceTopic(), error.getSourcePartition(), error.getSourceOffset()),
            error.getCode());
      }
    }
    return refused;
  }

  /** Every committed completion of {@code requests}, per request, in log order. */
  Map<String, List<Completion>> readCompletions(Set<String> requests) {
    Map<String, List<Completion>> byRequest = new HashMap<>();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.completions().name(), new ByteArrayDeserializer())) {
      Completion completion =
          topics
              .completions()
              .valueSerde()
              .deserializer()
              .deserialize(record.topic(), record.value());
      if (requests.contains(completion.getRequestId())) {
        byRequest
            .computeIfAbsent(completion.getRequestId(), id -> new ArrayList<>())
            .add(completion);
      }
    }
    return byRequest;
  }

  /** Reads a topic from its beginning to its last committed record, partition by partition. */
  private <V> List<ConsumerRecord<String, V>> readAll(String topic, Deserializer<V> values) {
    Map<String, Object> config = new HashMap<>(clientProperties);
    config.put(ConsumerConfig.GROUP_ID_CONFIG, "latentstream-replay-" + UUID.randomUUID());
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    List<ConsumerRecord<String, V>> records = new ArrayList<>();
    try (KafkaConsumer<String, V> consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), values)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
        partitions.add(new TopicPartition(topic, info.partition()));
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      Set<TopicPartition> open = new TreeSet<>(Comparator.comparingInt(TopicPartition::partition));
      for (TopicPartition p : partitions) {
        if (consumer.position(p) < end.get(p)) {
          open.add(p);
        }
      }
      while (!open.isEmpty()) {
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        open.removeIf(p -> consumer.position(p) >= end.get(p));
      }
    }
    records.sort(
        Comparator.comparingInt((ConsumerRecord<String, V> r) -> r.partition())
            .thenComparingLong(ConsumerRecord::offset));
    return records;
  }
}
