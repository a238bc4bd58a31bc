package io.latentstream.replay;

import io.latentstream.events.OutputEvents;
import io.latentstream.replay.ReplayLog.RecordedToken;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.PromptLimits;
import io.latentstream.topology.PromptRejected;
import io.latentstream.topology.PromptValidator;
import io.latentstream.topology.SessionKey;
import io.latentstream.topology.SessionTurns;
import io.latentstream.topology.Topics;
import io.latentstream.topology.TopologySettings;
import io.latentstream.topology.Turn;
import io.latentstream.topology.ValidPrompt;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Audit replay: reads the prompt events back from {@code prompts}, regenerates them with the model
 * and compares the result with the recorded tokens (read_committed), token by token whatever their
 * form: {@code tokens} events, or {@code token-chunks} read as the tokens they hold.
 *
 * <p>Each partition is replayed in offset order, as its stream task processed it, with the same
 * rules ({@link PromptValidator}, {@link SessionTurns}): refused and duplicate prompts generate
 * nothing, a session's turn continues the history its earlier turns left, a prompt without a seed
 * draws with {@link PromptValidator#seedOf}. Turns of a session that lie before the range (or are
 * not selected) are not verified; their recorded replies stand in for them in the history, and are
 * regenerated only when the record is incomplete. Generation is batch-invariant and independent of
 * MTP drafting, so requests are regenerated together, a wave at a time (one turn per session per
 * wave).
 *
 * <p>Three of the service's decisions depend on time, not on the prompts' log: a session idle for
 * longer than its TTL is forgotten, a request id is refused as a duplicate only while it is
 * retained, and of two prompts with one id in different partitions the one whose claim came first
 * is generated. Replay follows what the record shows of them: a turn whose recorded {@link
 * Completion} counts only its own prompt tokens was generated as a new session, a prompt that a
 * {@code DUPLICATE_REQUEST_ID} error names was refused, and a prompt reusing a request id was
 * accepted again when the id has another recorded generation and no such error names it. (The size
 * bound on session caches changes nothing that is generated: it drops caches, never histories.)
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
  public record Divergence(String requestId, int index, String detail, String expectedBecause) {
    Divergence(String requestId, int index, String detail) {
      this(requestId, index, detail, null);
    }

    /** Whether the replay could not be expected to match (another backend generated it). */
    public boolean expected() {
      return expectedBecause != null;
    }

    @Override
    public String toString() {
      return requestId
          + " diverges at token "
          + index
          + ": "
          + detail
          + (expected() ? " (expected: " + expectedBecause + ")" : "");
    }
  }

  /**
   * Differences from the record that a replay compares across instead of refusing.
   *
   * @param digest recorded weights digests other than the model's
   * @param backend requests recorded on another backend than the replaying engine's: their
   *     divergences are reported as expected (the backends' logits differ in the last bits)
   */
  public record Allow(boolean digest, boolean backend) {
    /** The auditor's default: the same weights, on the same backend. */
    public static final Allow NOTHING = new Allow(false, false);
  }

  /**
   * The outcome of a replay.
   *
   * @param refused prompts of the range the service refused too (invalid, duplicate, overflow)
   * @param restartedSessions turns the service generated as a new session, their session having
   *     expired, as their recorded completions show
   * @param reacceptedIds prompts whose request id the service accepted again after its retention
   */
  public record Report(
      int checked,
      int identical,
      int refused,
      int restartedSessions,
      int reacceptedIds,
      List<Divergence> diverging) {
    /** Whether no request diverged, other than as expected. */
    public boolean ok() {
      return diverging.stream().allMatch(Divergence::expected);
    }
  }

  /**
   * The record and the replay differ in what makes tokens reproducible: the weights (another
   * digest) or the backend, and that was not allowed.
   */
  public static final class MismatchException extends RuntimeException {
    MismatchException(String message) {
      super(message);
    }
  }

  private final ServedModel model;
  private final OutputEvents outputEvents;
  private final Topics topics;
  private final Map<String, Object> clientProperties;
  private final PromptValidator validator;
  private final ReplayLog events;

  /**
   * @param model the model to regenerate with; its loop is not used (replay runs its own)
   * @param clientProperties bootstrap servers and security settings of the cluster
   * @param limits the service's prompt limits, so the same prompts are refused
   */
  public Replay(
      ServedModel model, Topics topics, Map<String, Object> clientProperties, PromptLimits limits) {
    this.model = model;
    this.outputEvents = new OutputEvents(model);
    this.topics = topics;
    this.clientProperties = clientProperties;
    // The deployment's form is not in the log: what a request's recorded events show decides.
    this.validator = PromptValidator.of(model, limits, TokenEventForm.TOKEN);
    this.events = new ReplayLog(topics, clientProperties);
  }

  /**
   * The backends that generated the requests {@code range} verifies, as their token events record
   * them: what a replay must run on to reproduce them.
   */
  public static Set<String> recordedBackends(
      Topics topics, Map<String, Object> clientProperties, Range range) {
    ReplayLog log = new ReplayLog(topics, clientProperties);
    Set<String> requests = new HashSet<>();
    for (List<ConsumerRecord<String, byte[]>> partition : log.readPrompts(range).values()) {
      for (ConsumerRecord<String, byte[]> record : partition) {
        PromptRequest prompt = log.decode(record);
        if (prompt != null && range.verifies(record, prompt.getRequestId())) {
          requests.add(prompt.getRequestId());
        }
      }
    }
    Set<String> backends = new TreeSet<>();
    log.readTokens(requests).values().stream()
        .flatMap(List::stream)
        .flatMap(generation -> generation.tokens().stream())
        .forEach(token -> backends.add(token.backend()));
    return backends;
  }

  /** A prompt of the log accepted for generation, in the order its task processed it. */
  private static final class Accepted {
    final String requestId;
    final int generation; // 0, or n when the service accepted the id again for the n-th time
    final SessionKey session;
    final Turn turn;
    final TokenEventForm tokenEvents; // the form to write its regenerated events in
    final boolean verified;
    int[] context;
    List<TokenEmission> regenerated = new ArrayList<>();
    int[] reply;

    Accepted(
        String requestId,
        int generation,
        SessionKey session,
        Turn turn,
        TokenEventForm tokenEvents,
        boolean verified) {
      this.requestId = requestId;
      this.generation = generation;
      this.session = session;
      this.turn = turn;
      this.tokenEvents = tokenEvents;
      this.verified = verified;
    }
  }

  /**
   * What the log records of the prompts' requests: per request id, each generation's tokens in
   * index order and the completions, in log order; and the prompts refused, by error code.
   */
  private record Recorded(
      Map<String, List<ReplayLog.Generation>> tokens,
      Map<String, List<Completion>> completions,
      Map<String, ErrorCode> refusals) {
    /** Whether the service refused this prompt record with an error of this code. */
    boolean refused(ConsumerRecord<String, byte[]> prompt, ErrorCode code) {
      return refusals.get(ReplayLog.source(prompt.topic(), prompt.partition(), prompt.offset()))
          == code;
    }

    /** The request's n-th recorded generation, or null. */
    ReplayLog.Generation generation(String requestId, int n) {
      List<ReplayLog.Generation> generations = tokens.getOrDefault(requestId, List.of());
      return n < generations.size() ? generations.get(n) : null;
    }

    List<RecordedToken> tokens(Accepted a) {
      ReplayLog.Generation recorded = generation(a.requestId, a.generation);
      return recorded == null ? List.of() : recorded.tokens();
    }

    int generations(String requestId) {
      return tokens.getOrDefault(requestId, List.of()).size();
    }

    /** The prompt tokens the service counted for the request's n-th generation, or -1. */
    int promptTokens(String requestId, int generation) {
      List<Completion> recorded = completions.getOrDefault(requestId, List.of());
      return generation < recorded.size()
          ? recorded.get(generation).getUsage().getPromptTokens()
          : -1;
    }
  }

  /** What replaying the partitions found besides the requests, for the report. */
  private static final class Tally {
    int refused;
    int restartedSessions;
    int reacceptedIds;
  }

  /**
   * Replays {@code range} and compares with the recorded tokens.
   *
   * @param allow what may differ from the record
   * @param outputTopic where to write the regenerated token events, or null
   * @throws MismatchException when a recorded digest or backend differs and that is not allowed
   */
  public Report verify(Range range, Allow allow, String outputTopic) {
    Map<Integer, List<ConsumerRecord<String, byte[]>>> log = events.readPrompts(range);
    Set<String> replayed = new HashSet<>();
    log.values()
        .forEach(
            records ->
                records.forEach(
                    r -> {
                      PromptRequest prompt = events.decode(r);
                      if (prompt != null) {
                        replayed.add(prompt.getRequestId());
                      }
                    }));
    LOG.info(
        "read {} prompt records from {} partitions; reading their recorded tokens",
        log.values().stream().mapToInt(List::size).sum(),
        log.size());
    Recorded recorded =
        new Recorded(
            events.readTokens(replayed), events.readCompletions(replayed), events.readRefusals());
    LOG.info("recorded tokens of {} requests read; regenerating", recorded.tokens().size());
    List<Accepted> accepted = new ArrayList<>();
    Tally counts = new Tally();
    Map<String, Integer> seen =
        new HashMap<>(); // accepted request ids, in any partition: how often
    for (List<ConsumerRecord<String, byte[]>> partition : log.values()) {
      replayPartition(partition, range, recorded, seen, accepted, counts);
    }
    List<Accepted> verified = accepted.stream().filter(a -> a.verified).toList();
    String backend = model.engine().backend();
    for (Accepted a : verified) {
      for (RecordedToken token : recorded.tokens(a)) {
        if (!allow.backend() && !backend.equals(token.backend())) {
          throw new MismatchException(
              "request "
                  + a.requestId
                  + " was generated on backend "
                  + token.backend()
                  + ", this replay runs on "
                  + backend
                  + " (tokens are reproducible on the same backend only); replay with --backend "
                  + token.backend()
                  + ", or pass --allow-different-backend to compare anyway");
        }
      }
    }
    if (!allow.digest()) {
      for (Accepted a : verified) {
        for (RecordedToken token : recorded.tokens(a)) {
          if (!model.weightsDigest().equals(token.weightsDigest())) {
            throw new MismatchException(
                "request "
                    + a.requestId
                    + " was generated with weights "
                    + token.weightsDigest()
                    + ", the model's are "
                    + model.weightsDigest()
                    + "; pass --allow-different-digest to compare anyway");
          }
        }
      }
    }
    List<Divergence> diverging = new ArrayList<>();
    for (Accepted a : verified) {
      List<RecordedToken> tokens = recorded.tokens(a);
      Divergence d = compare(a, tokens);
      String other =
          tokens.stream()
              .map(RecordedToken::backend)
              .filter(b -> !b.equals(backend))
              .findFirst()
              .orElse(null);
      if (d != null) {
        diverging.add(
            other == null
                ? d
                : new Divergence(
                    d.requestId(),
                    d.index(),
                    d.detail(),
                    "generated on " + other + ", replayed on " + backend));
      }
    }
    if (outputTopic != null) {
      write(outputTopic, verified);
    }
    return new Report(
        verified.size(),
        verified.size() - diverging.size(),
        counts.refused,
        counts.restartedSessions,
        counts.reacceptedIds,
        diverging);
  }

  /**
   * Validates a partition's prompts in offset order and regenerates what is needed, a wave at a
   * time, adding what it accepted to {@code all}. Request ids are the service's across partitions
   * ({@code seen}), as its claims de-duplicate them.
   */
  private void replayPartition(
      List<ConsumerRecord<String, byte[]>> partition,
      Range range,
      Recorded recorded,
      Map<String, Integer> seen,
      List<Accepted> all,
      Tally counts) {
    Map<SessionKey, int[]> histories = new HashMap<>();
    int regenerated = 0;
    List<ConsumerRecord<String, byte[]>> waiting = new ArrayList<>(partition);
    while (!waiting.isEmpty()) {
      List<Accepted> wave = new ArrayList<>();
      List<Accepted> turns = new ArrayList<>();
      Set<SessionKey> busy = new HashSet<>();
      List<ConsumerRecord<String, byte[]>> later = new ArrayList<>();
      for (ConsumerRecord<String, byte[]> record : waiting) {
        PromptRequest prompt = events.decode(record);
        SessionKey session = prompt == null ? null : SessionTurns.sessionOf(prompt);
        if (session != null && busy.contains(session)) {
          later.add(record); // waits for the session's earlier turn, as in the service
          continue;
        }
        boolean inRange = range.verifies(record, prompt == null ? null : prompt.getRequestId());
        Accepted a = accept(record, prompt, session, histories, seen, recorded, inRange, counts);
        if (a == null) {
          counts.refused += inRange ? 1 : 0;
          continue;
        }
        all.add(a);
        List<RecordedToken> tokens = recorded.tokens(a);
        if (!a.verified && (session == null || ReplayLog.complete(tokens))) {
          a.reply = tokens.stream().mapToInt(RecordedToken::tokenId).toArray();
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
  }

  /** The service's acceptance rules; null when it refused the prompt. */
  private Accepted accept(
      ConsumerRecord<String, byte[]> record,
      PromptRequest prompt,
      SessionKey session,
      Map<SessionKey, int[]> histories,
      Map<String, Integer> seen,
      Recorded recorded,
      boolean verified,
      Tally counts) {
    if (prompt == null) {
      return null;
    }
    String requestId = prompt.getRequestId();
    int[] history = session == null ? new int[0] : histories.getOrDefault(session, new int[0]);
    Turn turn;
    try {
      PromptValidator.checkTenant(prompt, topics.viewTenant());
      ValidPrompt valid = validator.validate(prompt);
      turn = valid.turn(session != null && histories.containsKey(session));
      // Which of two prompts with one id in different partitions is the duplicate depends on the
      // order their claims reached the claims topic, not on the prompts' log: the refusal that
      // names a prompt decides, whichever partition is replayed first.
      int generation = seen.getOrDefault(requestId, 0);
      if (recorded.refused(record, ErrorCode.DUPLICATE_REQUEST_ID)
          || (generation > 0 && recorded.generations(requestId) <= generation)) {
        return null; // a duplicate request id
      }
      if (history.length > 0) {
        Turn fresh = valid.first();
        int counted = recorded.promptTokens(requestId, generation);
        if (counted != history.length + turn.tokens().length && counted == fresh.tokens().length) {
          LOG.info("session of {} had expired: replayed as a new session", requestId);
          counts.restartedSessions++;
          history = new int[0];
          turn = fresh;
        }
      }
      // Whether a request fits the serving engine's latent cache depends on its configuration
      // (latentstream.cuda.cache-memory), not on the log: the refusal naming the prompt decides.
      int limit = model.engine().config().maxPositionEmbeddings();
      if (history.length + turn.tokens().length + turn.params().maxNewTokens() > limit
          || recorded.refused(record, ErrorCode.CONTEXT_OVERFLOW)) {
        return null;
      }
      if (generation > 0) {
        LOG.info("request id {} was accepted again after its retention", requestId);
        counts.reacceptedIds++;
      }
      seen.put(requestId, generation + 1);
      // The form the service decided, as its events show; where nothing is recorded, the prompt's.
      ReplayLog.Generation events = recorded.generation(requestId, generation);
      TokenEventForm form = events != null ? events.form() : valid.tokenEvents();
      Accepted a = new Accepted(requestId, generation, session, turn, form, verified);
      a.context = SessionTurns.context(history, turn);
      return a;
    } catch (PromptRejected e) {
      return null;
    }
  }

  /** Generates a wave of requests together on a fresh loop. */
  private void regenerate(List<Accepted> wave) {
    if (wave.isEmpty()) {
      return;
    }
    Map<String, Accepted> byKey = new HashMap<>();
    try (GenerationLoop loop =
        new GenerationLoop(model.engine(), model.tokenizer(), GenerationLoop.Settings.defaults())) {
      GenerationListener listener =
          new GenerationListener() {
            @Override
            public void onToken(TokenEmission token) {
              byKey.get(token.requestId()).regenerated.add(token);
            }

            @Override
            public void onFinished(GenerationOutcome outcome) {
              byKey.get(outcome.requestId()).reply = outcome.tokens();
            }
          };
      for (Accepted a : wave) {
        String key = a.requestId + "#" + a.generation; // an id accepted again is generated twice
        byKey.put(key, a);
        loop.submit(
            new GenerationRequest(key, a.context, 0, a.turn.params(), a.turn.mtpDrafting(), null),
            listener);
      }
      loop.runUntilIdle();
    }
  }

  /**
   * The first token where the record and the regeneration disagree, or null. The record's indices
   * must run 0..n-1 once each (a chunk starting elsewhere than where the last ended shows as a gap
   * or a repeat).
   */
  private static Divergence compare(Accepted a, List<RecordedToken> recorded) {
    List<TokenEmission> mine = a.regenerated;
    int n = Math.max(mine.size(), recorded.size());
    for (int i = 0; i < n; i++) {
      if (i >= recorded.size()) {
        return new Divergence(a.requestId, i, "not recorded (the record ends at " + i + ")");
      }
      RecordedToken event = recorded.get(i);
      if (event.index() != i) {
        return new Divergence(
            a.requestId,
            i,
            "the record holds index "
                + event.index()
                + " in this place (a gap or a repeat in the recorded tokens)");
      }
      if (i >= mine.size()) {
        return new Divergence(
            a.requestId, i, "recorded token " + event.tokenId() + " after the regeneration ended");
      }
      TokenEmission token = mine.get(i);
      if (token.tokenId() != event.tokenId()
          || event.logprob() == null
          || Float.floatToIntBits(token.logprob()) != Float.floatToIntBits(event.logprob())) {
        return new Divergence(
            a.requestId,
            i,
            "recorded token "
                + event.tokenId()
                + " (logprob "
                + event.logprob()
                + "), regenerated "
                + token.tokenId()
                + " (logprob "
                + token.logprob()
                + ")");
      }
      String finish = token.finishReason() == null ? null : token.finishReason().name();
      String recordedFinish = event.finishReason() == null ? null : event.finishReason().name();
      if (finish == null ? recordedFinish != null : !finish.equals(recordedFinish)) {
        return new Divergence(
            a.requestId, i, "recorded finish reason " + recordedFinish + ", regenerated " + finish);
      }
    }
    return null;
  }

  /**
   * Where {@link #verify} writes the regenerated chunks of chunk-form requests when it writes their
   * token events to {@code outputTopic}: a topic apart, as {@code token-chunks} is from {@code
   * tokens} (one schema per topic's subject).
   */
  public static String chunksTopic(String outputTopic) {
    return outputTopic + "-chunks";
  }

  /**
   * Writes the regenerated tokens, as the service would have, each request in the form of its
   * recorded events: token events to {@code topic}, chunks to {@link #chunksTopic}. A request's
   * chunks are as large as an output event may be (the emits that cut the recorded ones are the
   * service's timing, which a replay does not reproduce).
   */
  private void write(String topic, List<Accepted> requests) {
    Map<String, Object> config = new HashMap<>(clientProperties);
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    Serializer<TokenEvent> tokens = topics.tokens().valueSerde().serializer();
    Serializer<TokenChunk> chunks = topics.tokenChunks().valueSerde().serializer();
    String chunksTopic = chunksTopic(topic);
    int maxBytes = TopologySettings.defaults().maxOutputRecordBytes();
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer())) {
      for (Accepted a : requests) {
        String session = a.session == null ? null : a.session.session();
        long seed = a.turn.params().seed();
        if (a.tokenEvents == TokenEventForm.CHUNK) {
          Instant now = Instant.now();
          List<OutputEvents.Produced> produced =
              a.regenerated.stream().map(token -> new OutputEvents.Produced(token, now)).toList();
          for (TokenChunk chunk :
              outputEvents.chunks(a.requestId, session, seed, produced, maxBytes)) {
            producer.send(
                new ProducerRecord<>(
                    chunksTopic, a.requestId, chunks.serialize(chunksTopic, chunk)));
          }
          continue;
        }
        for (TokenEmission token : a.regenerated) {
          TokenEvent event = outputEvents.token(a.requestId, session, seed, token, Instant.now());
          producer.send(new ProducerRecord<>(topic, a.requestId, tokens.serialize(topic, event)));
        }
      }
      producer.flush();
    }
  }
}
