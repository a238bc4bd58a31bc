package io.latentstream.topology;

import io.latentstream.registry.RecordDecodingException;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Audit replay: reads the prompt events back from {@code prompts}, regenerates them with the model
 * and compares the result with the recorded {@code tokens} events (read_committed).
 *
 * <p>Each partition is replayed in offset order, as its stream task processed it, with the same
 * rules ({@link PromptValidator}, {@link SessionTurns}): refused and duplicate prompts generate
 * nothing, a session's turn continues the history its earlier turns left, a prompt without a seed
 * draws with {@link PromptValidator#seedOf}. Turns of a session that lie before the range (or are
 * not selected) are not verified; their recorded replies stand in for them in the history, and are
 * regenerated only when the record is incomplete. Generation is batch-invariant and independent of
 * MTP drafting, so requests are regenerated together, a wave at a time (one turn per session per
 * wave).
 */
public final class Replay {
  private static final Logger LOG = LoggerFactory.getLogger(Replay.class);

  /** Which prompts to verify. Offsets and times bound every partition of {@code prompts}. */
  public record Range(
      long fromOffset, long toOffset, Instant fromTime, Instant toTime, String requestId) {
    public static Range all() {
      return new Range(0, Long.MAX_VALUE, null, null, null);
    }

    boolean verifies(ConsumerRecord<String, byte[]> record, String id) {
      return record.offset() >= fromOffset
          && (fromTime == null || record.timestamp() >= fromTime.toEpochMilli())
          && (requestId == null || requestId.equals(id));
    }

    boolean reads(ConsumerRecord<String, byte[]> record) {
      return record.offset() <= toOffset
          && (toTime == null || record.timestamp() <= toTime.toEpochMilli());
    }
  }

  /** A request whose regenerated tokens differ from the recorded ones from {@code index} on. */
  public record Divergence(String requestId, int index, String detail) {
    @Override
    public String toString() {
      return requestId + " diverges at token " + index + ": " + detail;
    }
  }

  /**
   * The outcome of a replay.
   *
   * @param refused prompts of the range the service refused too (invalid, duplicate, overflow)
   */
  public record Report(int checked, int identical, int refused, List<Divergence> diverging) {
    public boolean ok() {
      return diverging.isEmpty();
    }
  }

  /** The recorded events of a request name weights other than the model's. */
  public static final class DigestMismatchException extends RuntimeException {
    DigestMismatchException(String message) {
      super(message);
    }
  }

  private final ServedModel model;
  private final Topics topics;
  private final Map<String, Object> clientProperties;
  private final PromptValidator validator;
  private final Deserializer<PromptRequest> prompts;

  /**
   * @param model the model to regenerate with; its loop is not used (replay runs its own)
   * @param clientProperties bootstrap servers and security settings of the cluster
   * @param maxNewTokensLimit the service's limit, so the same prompts are refused
   */
  public Replay(
      ServedModel model,
      Topics topics,
      Map<String, Object> clientProperties,
      int maxNewTokensLimit) {
    this.model = model;
    this.topics = topics;
    this.clientProperties = clientProperties;
    this.validator =
        new PromptValidator(
            model.tokenizer(), model.engine().config().vocabSize(), maxNewTokensLimit);
    this.prompts = topics.prompts().valueSerde().deserializer();
  }

  /** A prompt of the log accepted for generation, in the order its task processed it. */
  private static final class Accepted {
    final String requestId;
    final SessionKey session;
    final Turn turn;
    final boolean verified;
    int[] context;
    List<TokenEmission> regenerated = new ArrayList<>();
    int[] reply;

    Accepted(String requestId, SessionKey session, Turn turn, boolean verified) {
      this.requestId = requestId;
      this.session = session;
      this.turn = turn;
      this.verified = verified;
    }
  }

  /**
   * Replays {@code range} and compares with the recorded tokens.
   *
   * @param allowDifferentDigest verify even when the recorded weights digest is not the model's
   * @param outputTopic where to write the regenerated token events, or null
   * @throws DigestMismatchException when a recorded digest differs and that is not allowed
   */
  public Report verify(Range range, boolean allowDifferentDigest, String outputTopic) {
    Map<Integer, List<ConsumerRecord<String, byte[]>>> log = readPrompts(range);
    Set<String> replayed = new HashSet<>();
    log.values()
        .forEach(
            records ->
                records.forEach(
                    r -> {
                      PromptRequest prompt = decode(r);
                      if (prompt != null) {
                        replayed.add(prompt.getRequestId());
                      }
                    }));
    LOG.info(
        "read {} prompt records from {} partitions; reading their recorded tokens",
        log.values().stream().mapToInt(List::size).sum(),
        log.size());
    Map<String, List<TokenEvent>> recorded = readTokens(replayed);
    LOG.info("recorded tokens of {} requests read; regenerating", recorded.size());
    Map<String, Accepted> accepted = new LinkedHashMap<>();
    int refused = 0;
    for (List<ConsumerRecord<String, byte[]>> partition : log.values()) {
      refused += replayPartition(partition, range, recorded, accepted);
    }
    List<Accepted> verified = accepted.values().stream().filter(a -> a.verified).toList();
    if (!allowDifferentDigest) {
      for (Accepted a : verified) {
        for (TokenEvent event : recorded.getOrDefault(a.requestId, List.of())) {
          if (!model.weightsDigest().equals(event.getWeightsDigest())) {
            throw new DigestMismatchException(
                "request "
                    + a.requestId
                    + " was generated with weights "
                    + event.getWeightsDigest()
                    + ", the model's are "
                    + model.weightsDigest()
                    + "; pass --allow-different-digest to compare anyway");
          }
        }
      }
    }
    List<Divergence> diverging = new ArrayList<>();
    for (Accepted a : verified) {
      Divergence d = compare(a, recorded.getOrDefault(a.requestId, List.of()));
      if (d != null) {
        diverging.add(d);
      }
    }
    if (outputTopic != null) {
      write(outputTopic, verified);
    }
    return new Report(verified.size(), verified.size() - diverging.size(), refused, diverging);
  }

  /**
   * Validates a partition's prompts in offset order and regenerates what is needed, a wave at a
   * time; returns how many prompts of the range were refused.
   */
  private int replayPartition(
      List<ConsumerRecord<String, byte[]>> partition,
      Range range,
      Map<String, List<TokenEvent>> recorded,
      Map<String, Accepted> all) {
    Set<String> seen = new HashSet<>(); // the task's in-flight and completed request ids
    Map<SessionKey, int[]> histories = new HashMap<>();
    int refused = 0;
    int regenerated = 0;
    List<ConsumerRecord<String, byte[]>> waiting = new ArrayList<>(partition);
    while (!waiting.isEmpty()) {
      List<Accepted> wave = new ArrayList<>();
      List<Accepted> turns = new ArrayList<>();
      Set<SessionKey> busy = new HashSet<>();
      List<ConsumerRecord<String, byte[]>> later = new ArrayList<>();
      for (ConsumerRecord<String, byte[]> record : waiting) {
        PromptRequest prompt = decode(record);
        SessionKey session = prompt == null ? null : SessionTurns.sessionOf(prompt);
        if (session != null && busy.contains(session)) {
          later.add(record); // waits for the session's earlier turn, as in the service
          continue;
        }
        boolean inRange = range.verifies(record, prompt == null ? null : prompt.getRequestId());
        Accepted a = accept(prompt, session, histories, seen, inRange);
        if (a == null) {
          refused += inRange ? 1 : 0;
          continue;
        }
        all.put(a.requestId, a);
        List<TokenEvent> events = recorded.getOrDefault(a.requestId, List.of());
        if (!a.verified && (session == null || complete(events))) {
          a.reply = events.stream().mapToInt(TokenEvent::getTokenId).toArray();
        } else {
          wave.add(a);
        }
        if (session != null) {
          busy.add(session);
          turns.add(a);
        }
      }
      regenerate(wave);
      regenerated += wave.size();
      LOG.info(
          "regenerated {} requests of partition {}", regenerated, partition.get(0).partition());
      Integer eos = model.tokenizer() == null ? null : model.tokenizer().eosId();
      for (Accepted a : turns) { // one turn per session: the order between them is free
        if (a.reply == null) {
          continue; // the engine failed it: the service appends nothing to the session either
        }
        histories.put(
            a.session,
            SessionTurns.historyAfter(
                histories.getOrDefault(a.session, new int[0]), a.turn, a.reply, eos));
      }
      waiting = later;
    }
    return refused;
  }

  /** The service's acceptance rules; null when it refused the prompt. */
  private Accepted accept(
      PromptRequest prompt,
      SessionKey session,
      Map<SessionKey, int[]> histories,
      Set<String> seen,
      boolean verified) {
    if (prompt == null) {
      return null;
    }
    int[] history = session == null ? new int[0] : histories.getOrDefault(session, new int[0]);
    Turn turn;
    try {
      turn = validator.validate(prompt, session != null && histories.containsKey(session));
    } catch (PromptRejected e) {
      return null;
    }
    if (seen.contains(prompt.getRequestId())) {
      return null; // a duplicate request id
    }
    int limit = model.engine().config().maxPositionEmbeddings();
    if (history.length + turn.tokens().length + turn.params().maxNewTokens() > limit) {
      return null;
    }
    seen.add(prompt.getRequestId());
    Accepted a = new Accepted(prompt.getRequestId(), session, turn, verified);
    a.context = SessionTurns.context(history, turn);
    return a;
  }

  private PromptRequest decode(ConsumerRecord<String, byte[]> record) {
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

  private static boolean complete(List<TokenEvent> events) {
    return !events.isEmpty() && events.get(events.size() - 1).getFinishReason() != null;
  }

  /** Generates a wave of requests together on a fresh loop. */
  private void regenerate(List<Accepted> wave) {
    if (wave.isEmpty()) {
      return;
    }
    Map<String, Accepted> byId = new HashMap<>();
    try (GenerationLoop loop =
        new GenerationLoop(model.engine(), model.tokenizer(), GenerationLoop.Settings.defaults())) {
      GenerationListener listener =
          new GenerationListener() {
            @Override
            public void onToken(TokenEmission token) {
              byId.get(token.requestId()).regenerated.add(token);
            }

            @Override
            public void onFinished(GenerationOutcome outcome) {
              byId.get(outcome.requestId()).reply = outcome.tokens();
            }
          };
      for (Accepted a : wave) {
        byId.put(a.requestId, a);
        loop.submit(
            new GenerationRequest(
                a.requestId, a.context, 0, a.turn.params(), a.turn.mtpDrafting(), null),
            listener);
      }
      loop.runUntilIdle();
    }
  }

  /** The first token where the record and the regeneration disagree, or null. */
  private static Divergence compare(Accepted a, List<TokenEvent> events) {
    List<TokenEmission> mine = a.regenerated;
    int n = Math.max(mine.size(), events.size());
    for (int i = 0; i < n; i++) {
      if (i >= events.size()) {
        return new Divergence(a.requestId, i, "not recorded (the record ends at " + i + ")");
      }
      TokenEvent event = events.get(i);
      if (event.getIndex() != i) {
        return new Divergence(
            a.requestId, i, "the record holds index " + event.getIndex() + " in this place");
      }
      if (i >= mine.size()) {
        return new Divergence(
            a.requestId,
            i,
            "recorded token " + event.getTokenId() + " after the regeneration ended");
      }
      TokenEmission token = mine.get(i);
      if (token.tokenId() != event.getTokenId()
          || Float.floatToIntBits(token.logprob()) != Float.floatToIntBits(event.getLogprob())) {
        return new Divergence(
            a.requestId,
            i,
            "recorded token "
                + event.getTokenId()
                + " (logprob "
                + event.getLogprob()
                + "), regenerated "
                + token.tokenId()
                + " (logprob "
                + token.logprob()
                + ")");
      }
      String finish = token.finishReason() == null ? null : token.finishReason().name();
      String recordedFinish =
          event.getFinishReason() == null ? null : event.getFinishReason().name();
      if (finish == null ? recordedFinish != null : !finish.equals(recordedFinish)) {
        return new Divergence(
            a.requestId, i, "recorded finish reason " + recordedFinish + ", regenerated " + finish);
      }
    }
    return null;
  }

  private Map<Integer, List<ConsumerRecord<String, byte[]>>> readPrompts(Range range) {
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
   * Every committed token event of {@code requests}, per request, in index order (duplicates kept,
   * to be caught).
   */
  private Map<String, List<TokenEvent>> readTokens(Set<String> requests) {
    Map<String, List<TokenEvent>> byRequest = new HashMap<>();
    for (ConsumerRecord<String, byte[]> record :
        readAll(topics.tokens().name(), new ByteArrayDeserializer())) {
      TokenEvent event =
          topics.tokens().valueSerde().deserializer().deserialize(record.topic(), record.value());
      if (requests.contains(event.getRequestId())) {
        byRequest.computeIfAbsent(event.getRequestId(), id -> new ArrayList<>()).add(event);
      }
    }
    byRequest.values().forEach(list -> list.sort(Comparator.comparingInt(TokenEvent::getIndex)));
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

  /** Writes the regenerated token events, as the service would have, to {@code topic}. */
  private void write(String topic, List<Accepted> requests) {
    Map<String, Object> config = new HashMap<>(clientProperties);
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    try (KafkaProducer<String, TokenEvent> producer =
        new KafkaProducer<>(
            config, new StringSerializer(), topics.tokens().valueSerde().serializer())) {
      for (Accepted a : requests) {
        for (TokenEmission token : a.regenerated) {
          TokenEvent event =
              TokenEvent.newBuilder()
                  .setRequestId(a.requestId)
                  .setSessionId(a.session == null ? null : a.session.session())
                  .setIndex(token.index())
                  .setTokenId(token.tokenId())
                  .setTextDelta(token.textDelta())
                  .setLogprob(token.logprob())
                  .setFromMtpDraft(token.fromDraft())
                  .setFinishReason(
                      token.finishReason() == null
                          ? null
                          : FinishReason.valueOf(token.finishReason().name()))
                  .setModelId(model.modelId())
                  .setWeightsDigest(model.weightsDigest())
                  .setEngineVersion(model.engineVersion())
                  .setSeed(a.turn.params().seed())
                  .setProducedAt(Instant.now())
                  .build();
          producer.send(new ProducerRecord<>(topic, a.requestId, event));
        }
      }
      producer.flush();
    }
  }
}
