package io.latentstream.topology;

import io.latentstream.engine.CacheCapacity;
import io.latentstream.events.OutputEvents;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.TurnQueue.Held;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stateful heart of the service, one instance per stream task (partition of {@code prompts}).
 *
 * <ul>
 *   <li>{@link #process}: takes what the decode node made of a record ({@link Arrival}). A valid
 *       prompt is recorded in the {@code in-flight} store (durable once consumed) and its request
 *       id claimed ({@link Claims}); once the verdict returns (from {@code request-verdicts},
 *       through the decode node) the request goes to the instance's generation loop, or queues
 *       behind an earlier turn of the same session, or is refused as a duplicate. Refusals, the
 *       decode node's and its own, leave on the errors topic;
 *   <li>a wall-clock punctuation forwards what the loop produced since the last one, from the
 *       stream thread, so token events, store updates and the consumed offsets commit together: a
 *       token event per token, or for requests of form {@code CHUNK} one chunk per request per
 *       punctuation holding its tokens since the last;
 *   <li>{@link #init} resumes every in-flight request after a restart or a failover from its last
 *       forwarded token; random draws are addressed by token index, so the continuation is the
 *       undisturbed one.
 * </ul>
 */
final class GenerationProcessor implements Processor<String, Arrival, String, Object> {
  private static final Logger LOG = LoggerFactory.getLogger(GenerationProcessor.class);

  private final ServedModel model;
  private final Topics topics;
  private final TopologySettings settings;
  private final OutputEvents events;
  private final Map<String, Active> active = new HashMap<>();

  /** Accepted requests that have not started: session turns in order, and ready ones. */
  private final TurnQueue turns = new TurnQueue();

  /** Claims to send again after a restart (init may not forward): sent at the first punctuation. */
  private final List<Held> claimsToResend = new ArrayList<>();

  private final PipelineObserver observer;

  /** Tokens and outcomes from the generation loop's thread, forwarded at each punctuation. */
  private final LoopOutbox outbox;

  private ProcessorContext<String, Object> context;
  private KeyValueStore<String, byte[]> inFlight;
  private SessionCacheStore sessions;

  /**
   * The emitting punctuation while this task has requests in the loop or ready, else null. Streams
   * commits a task after every punctuation, so one left running on an idle task would commit an
   * empty transaction every commit interval (under exactly-once: offsets, end marker and
   * transaction-log records, about 40 broker requests a second per instance, forever).
   */
  private Cancellable emitting;

  /** A request handed to the loop, with what its events need. */
  private static final class Active {
    InFlightRequest request;
    final int historyLength;
    final List<Integer> forwarded = new ArrayList<>();

    /** Tokens of a request of form CHUNK taken in this punctuation, for its chunk. */
    final List<OutputEvents.Produced> unchunked = new ArrayList<>();

    Active(InFlightRequest request, int historyLength) {
      this.request = request;
      this.historyLength = historyLength;
    }
  }

  GenerationProcessor(
      ServedModel model, Topics topics, TopologySettings settings, PipelineObserver observer) {
    this.model = model;
    this.observer = observer;
    this.outbox = new LoopOutbox(observer);
    this.topics = topics;
    this.settings = settings;
    this.events = new OutputEvents(model);
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
    this.inFlight = context.getStateStore(StoreNames.IN_FLIGHT);
    this.sessions =
        new SessionCacheStore(context.getStateStore(StoreNames.SESSION_CACHE), model.engine());
    context.schedule(settings.evictionInterval(), PunctuationType.WALL_CLOCK_TIME, this::evict);
    resumeInFlight();
  }

  @Override
  public void process(Record<String, Arrival> record) {
    Arrival arrival = record.value();
    if (arrival instanceof Arrival.Verdict verdict) {
      onVerdict(verdict.verdict());
    } else if (arrival instanceof Arrival.Refused refused) {
      refuse(refused, record.timestamp());
    } else if (arrival instanceof Arrival.Prompt prompt) {
      acceptOrRefuse(prompt, record);
    }
  }

  /** Accepts a valid prompt, or refuses it for what the stores say (see {@link #accept}). */
  private void acceptOrRefuse(Arrival.Prompt arrival, Record<String, Arrival> record) {
    PromptRequest prompt = arrival.prompt().request();
    RecordMetadata source = context.recordMetadata().orElseThrow();
    try (RequestLogContext logContext =
        RequestLogContext.of(prompt.getRequestId(), prompt.getSessionId())) {
      ErrorCode code;
      String message;
      try {
        accept(arrival.prompt(), source.offset());
        return;
      } catch (PromptRejected e) {
        code = e.code();
        message = e.getMessage();
      } catch (RuntimeException e) {
        if (e instanceof KafkaException) {
          throw e; // the task's own failure (a store, the producer): retried, never dropped
        }
        LOG.error("failed while accepting; refused as an internal error", e);
        code = ErrorCode.INTERNAL_ERROR;
        message = String.valueOf(e);
      }
      Arrival.Refused refused =
          Arrival.Refused.of(
              topics.tenantOfPrompts(source.topic()),
              prompt.getRequestId(),
              code,
              message,
              source,
              record.key(),
              arrival.bytes(),
              settings,
              Instant.ofEpochMilli(context.currentSystemTimeMs()));
      refuse(refused, record.timestamp());
    }
  }

  /**
   * Accepts a valid prompt, consumed at {@code offset}, unless its request id is in flight already
   * or its session's history and the turn would overflow the context.
   */
  private void accept(ValidPrompt valid, long offset) throws PromptRejected {
    PromptRequest prompt = valid.request();
    String requestId = prompt.getRequestId();
    SessionKey session = SessionTurns.sessionOf(prompt);
    Optional<SessionEntry> entry = session == null ? Optional.empty() : sessions.entry(session);
    boolean continues = session != null && (entry.isPresent() || sessionBusy(session));
    Turn turn = valid.turn(continues);
    String key = key(prompt.getTenant(), requestId);
    if (inFlight.get(key) != null) {
      throw new PromptRejected(
          ErrorCode.DUPLICATE_REQUEST_ID,
          "request " + requestId + " was already accepted; it is never generated twice");
    }
    int history = entry.map(e -> e.history().length).orElse(0);
    checkContext(requestId, history + turn.tokens().length, turn.params().maxNewTokens());
    InFlightRequest request =
        new InFlightRequest(
            requestId,
            session,
            prompt.getTenant(),
            offset,
            turn,
            valid.tokenEvents(),
            context.currentSystemTimeMs(),
            false,
            new int[0]);
    inFlight.put(key, request.toBytes());
    Held held = new Held(key, offset, false);
    if (session != null) {
      turns.hold(session, held);
    }
    claim(held);
    LOG.info("accepted; its request id is claimed");
  }

  private void claim(Held request) {
    Claims.Claim claim =
        new Claims.Claim(request.key(), context.taskId().partition(), request.offset());
    context.forward(
        new Record<>(request.key(), claim, context.currentSystemTimeMs()),
        LatentstreamTopology.REQUEST_CLAIMS);
  }

  /**
   * A verdict on one of this task's claims: a granted request starts (a session turn when its
   * earlier turns are done); a denied one is refused as a duplicate. Verdicts for requests no
   * longer waiting (a claim sent twice around a failover) change nothing.
   */
  private void onVerdict(Claims.Verdict verdict) {
    Claims.Claim claim = verdict.claim();
    byte[] stored = inFlight.get(claim.requestKey());
    InFlightRequest request = stored == null ? null : InFlightRequest.fromBytes(stored);
    if (request == null || request.claimed() || request.offset() != claim.offset()) {
      return;
    }
    try (RequestLogContext logContext = RequestLogContext.of(request)) {
      SessionKey session = request.session();
      if (!verdict.granted()) {
        inFlight.delete(claim.requestKey());
        refuseDuplicate(request);
        if (session != null) {
          turns.drop(session, request.offset());
          startNextTurn(session);
        }
        return;
      }
      inFlight.put(claim.requestKey(), request.asClaimed().toBytes());
      Held granted = new Held(claim.requestKey(), request.offset(), true);
      if (session == null) {
        admit(granted);
      } else {
        turns.hold(session, granted);
        startNextTurn(session);
      }
    }
  }

  /** A duplicate found by its claim: the error names the prompt (its bytes are not kept). */
  private void refuseDuplicate(InFlightRequest request) {
    observer.refused(metricsTenant(request), ErrorCode.DUPLICATE_REQUEST_ID);
    String message =
        "request " + request.requestId() + " was already accepted; it is never generated twice";
    LOG.info("refused: {}", message);
    forwardError(request, error(request.requestId(), ErrorCode.DUPLICATE_REQUEST_ID, message));
  }

  /** Drops a request that could not start from the in-flight store and the loop. */
  private void forget(String key) {
    inFlight.delete(key);
    if (active.remove(key) != null) {
      model.loop().cancel(key);
    }
  }

  /**
   * A request's key in the stores, the claims and the loop: its id, within its tenant where tenants
   * have topics of their own (their ids are theirs to choose: two tenants may use the same).
   */
  private String key(String tenant, String requestId) {
    return topics.tenants().isEmpty() ? requestId : tenant + "/" + requestId;
  }

  private String key(InFlightRequest request) {
    return key(request.tenant(), request.requestId());
  }

  private void checkContext(String requestId, int contextTokens, int maxNewTokens)
      throws PromptRejected {
    int limit = model.engine().config().maxPositionEmbeddings();
    if (contextTokens + maxNewTokens > limit) {
      throw new PromptRejected(
          ErrorCode.CONTEXT_OVERFLOW,
          "request "
              + requestId
              + " needs "
              + contextTokens
              + " context tokens plus "
              + maxNewTokens
              + " new ones; the model's context is "
              + limit);
    }
    // The loop admits a request when its whole generation fits the engine's latent cache (a
    // GPU's page pool, latentstream.cuda.cache-memory); one that could never fit is refused here.
    CacheCapacity cache = model.engine().cacheCapacity();
    int tokens = CacheCapacity.tokensFor(contextTokens, maxNewTokens);
    if (!cache.fits(tokens)) {
      throw new PromptRejected(
          ErrorCode.CONTEXT_OVERFLOW,
          "request "
              + requestId
              + " may grow to "
              + tokens
              + " tokens; the engine's latent cache holds "
              + cache.blocks() * cache.blockTokens()
              + " (latentstream.cuda.cache-memory)");
    }
  }

  /** Whether an earlier turn of the session is still generating or waiting. */
  private boolean sessionBusy(SessionKey session) {
    return generating(session) || turns.hasWaiting(session);
  }

  /** Whether a turn of the session is in the loop (a session's turns run one at a time). */
  private boolean generating(SessionKey session) {
    return active.values().stream().anyMatch(a -> session.equals(a.request.session()));
  }

  /**
   * Admits the session's earliest waiting turn once its claim is granted and no turn of the session
   * is generating (it leaves the session's queue when it starts).
   */
  private void startNextTurn(SessionKey session) {
    if (turns.readyNext(session, generating(session))) {
      startReady();
      ensureEmitting(); // what could not start yet is retried at each emit punctuation
    }
  }

  /** A request that may start: it starts when the generation loop has room, in prompt order. */
  private void admit(Held request) {
    turns.ready(request);
    startReady();
    ensureEmitting(); // what could not start yet is retried at each emit punctuation
  }

  /** Starts ready requests, earliest prompt first, while the generation loop has room. */
  private void startReady() {
    while (turns.anyReady() && model.loop().hasRoom(settings.maxWaiting())) {
      byte[] stored = inFlight.get(turns.pollReady().key());
      if (stored == null) {
        continue; // refused or failed meanwhile
      }
      InFlightRequest request = InFlightRequest.fromBytes(stored);
      if (request.session() != null) {
        turns.drop(request.session(), request.offset());
      }
      if (!startOrFail(request) && request.session() != null) {
        startNextTurn(request.session());
      }
    }
  }

  /**
   * After a restart or failover, from the in-flight store: claims again what was not yet granted
   * (at the first punctuation: init may not forward), admits every granted one-off request and each
   * session's first turn, in prompt order; requests resume from their last forwarded token.
   */
  private void resumeInFlight() {
    try (KeyValueIterator<String, byte[]> it = inFlight.all()) {
      // Read one by one as the queue takes them: the store may hold a large backlog.
      Iterable<InFlightRequest> requests =
          () ->
              new Iterator<>() {
                @Override
                public boolean hasNext() {
                  return it.hasNext();
                }

                @Override
                public InFlightRequest next() {
                  InFlightRequest request = InFlightRequest.fromBytes(it.next().value);
                  try (RequestLogContext logContext = RequestLogContext.of(request)) {
                    LOG.info(
                        "resuming request {} after {} forwarded tokens",
                        request.requestId(),
                        request.generated().length);
                  }
                  return request;
                }
              };
      claimsToResend.addAll(turns.resume(requests, this::key));
    }
    startReady();
    if (!claimsToResend.isEmpty() || turns.anyReady()) {
      Cancellable[] once = new Cancellable[1];
      once[0] =
          context.schedule(
              Duration.ofMillis(1),
              PunctuationType.WALL_CLOCK_TIME,
              now -> {
                claimsToResend.forEach(this::claim);
                claimsToResend.clear();
                ensureEmitting();
                once[0].cancel();
              });
    }
  }

  /**
   * Starts an accepted request outside the processing of its prompt: a failure fails that request
   * alone, with one error event, and the rest go on. Returns whether it started.
   */
  private boolean startOrFail(InFlightRequest request) {
    try {
      start(request);
      return true;
    } catch (RuntimeException e) {
      if (e instanceof KafkaException) {
        throw e;
      }
      LOG.error("failed to start request {}", request.requestId(), e);
      forget(key(request));
      fail(request, ErrorCode.INTERNAL_ERROR, String.valueOf(e));
      return false;
    }
  }

  /** Hands a request to the loop: the session's history and cache, the turn, the tokens so far. */
  private void start(InFlightRequest request) {
    try (RequestLogContext logContext = RequestLogContext.of(request)) {
      startLogged(request);
    }
  }

  private void startLogged(InFlightRequest request) {
    SessionEntry entry =
        request.session() == null ? null : sessions.entry(request.session()).orElse(null);
    int[] history = entry == null ? new int[0] : entry.history();
    int[] context =
        SessionTurns.concat(SessionTurns.context(history, request.turn()), request.generated());
    try {
      checkContext(
          request.requestId(),
          history.length + request.turn().tokens().length,
          request.turn().params().maxNewTokens());
    } catch (PromptRejected e) {
      inFlight.delete(key(request));
      fail(request, e.code(), e.getMessage());
      return;
    }
    int cachedTokens = entry == null ? 0 : sessions.resumableTokens(entry);
    byte[] cached = null;
    if (cachedTokens > 0) {
      cached = sessions.readCache(request.session(), entry);
      observer.sessionTurn(cachedTokens, cached.length);
    } else if (request.session() != null) {
      observer.sessionTurn(0, 0);
    }
    LOG.info(
        "generating: {} context tokens, {} from the session cache, {} already forwarded",
        context.length,
        cachedTokens,
        request.generated().length);
    PipelineObserver.Request observed =
        new PipelineObserver.Request(
            metricsTenant(request), request.requestId(), sessionId(request));
    observer.started(observed, context.length);
    Active started = new Active(request, history.length);
    for (int token : request.generated()) {
      started.forwarded.add(token);
    }
    active.put(key(request), started);
    ensureEmitting();
    model
        .loop()
        .submit(
            new GenerationRequest(
                key(request),
                context,
                request.generated().length,
                request.turn().params(),
                request.turn().mtpDrafting(),
                cached),
            outbox.listener(observed, request.session() != null, cachedTokens));
  }

  /** Schedules the emitting punctuation unless it runs. */
  private void ensureEmitting() {
    if (emitting == null) {
      emitting =
          this.context.schedule(
              settings.emitInterval(), PunctuationType.WALL_CLOCK_TIME, this::punctuate);
    }
  }

  /**
   * Forwards what the loop produced: token events or chunks, then completions; records progress in
   * the same punctuation (one transaction under exactly-once), so that a failover resumes right
   * after the last forwarded token; starts ready requests the loop now has room for.
   */
  private void punctuate(long now) {
    Map<String, Active> progressed = new LinkedHashMap<>();
    for (LoopOutbox.Item item; (item = outbox.poll()) != null; ) {
      if (item instanceof LoopOutbox.Emitted emitted) {
        Active request = active.get(emitted.token().requestId());
        if (request != null) {
          take(request, emitted, now);
          progressed.put(emitted.token().requestId(), request);
        }
      } else if (item instanceof LoopOutbox.Finished finished
          && active.containsKey(finished.outcome().requestId())) {
        progressed.remove(finished.outcome().requestId());
        Active request = active.remove(finished.outcome().requestId());
        forwardChunks(request, now); // its last tokens, then its completion
        try (RequestLogContext logContext = RequestLogContext.of(request.request)) {
          completeOrFail(request, finished, now);
        }
      }
    }
    for (Map.Entry<String, Active> entry : progressed.entrySet()) {
      Active request = entry.getValue();
      forwardChunks(request, now);
      request.request =
          request.request.withGenerated(
              request.forwarded.stream().mapToInt(Integer::intValue).toArray());
      inFlight.put(entry.getKey(), request.request.toBytes());
    }
    startReady();
    // Nothing left to forward or start: the loop adds to the outbox only for requests in active.
    if (active.isEmpty() && outbox.isEmpty() && !turns.anyReady()) {
      emitting.cancel();
      emitting = null;
    }
  }

  /** A token from the loop: forwarded as its event (form TOKEN) or kept for its chunk (CHUNK). */
  private void take(Active request, LoopOutbox.Emitted emitted, long now) {
    InFlightRequest r = request.request;
    TokenEmission token = emitted.token();
    Instant producedAt = Instant.ofEpochMilli(emitted.atMs());
    if (r.tokenEvents() == TokenEventForm.CHUNK) {
      request.unchunked.add(new OutputEvents.Produced(token, producedAt));
      return;
    }
    request.forwarded.add(token.tokenId());
    TokenEvent event =
        events.token(r.requestId(), sessionId(r), r.turn().params().seed(), token, producedAt);
    context.forward(
        new Record<String, Object>(r.requestId(), event, now),
        sink(LatentstreamTopology.TOKENS, r));
  }

  /**
   * Forwards the tokens a request of form CHUNK produced since the last punctuation as one chunk
   * (several where one would exceed the output bound).
   */
  private void forwardChunks(Active request, long now) {
    if (request.unchunked.isEmpty()) {
      return;
    }
    InFlightRequest r = request.request;
    for (TokenChunk chunk :
        events.chunks(
            r.requestId(),
            sessionId(r),
            r.turn().params().seed(),
            request.unchunked,
            settings.maxOutputRecordBytes())) {
      context.forward(
          new Record<String, Object>(r.requestId(), chunk, now),
          sink(LatentstreamTopology.TOKEN_CHUNKS, r));
    }
    request.unchunked.forEach(produced -> request.forwarded.add(produced.token().tokenId()));
    request.unchunked.clear();
  }

  /** Completes a request; a failure fails it alone, with one error event, and the rest go on. */
  private void completeOrFail(Active request, LoopOutbox.Finished finished, long now) {
    try {
      complete(request, finished, now);
    } catch (RuntimeException e) {
      if (e instanceof KafkaException) {
        throw e;
      }
      InFlightRequest r = request.request;
      LOG.error("failed to complete request {}", r.requestId(), e);
      fail(r, ErrorCode.INTERNAL_ERROR, String.valueOf(e));
      inFlight.delete(key(r));
      if (r.session() != null) {
        startNextTurn(r.session());
      }
    }
  }

  private void complete(Active request, LoopOutbox.Finished finished, long now) {
    GenerationOutcome outcome = finished.outcome();
    InFlightRequest r = request.request;
    LOG.info(
        "finished ({}): {} tokens, first after {} ms, MTP accepted {} of {} drafts",
        outcome.finishReason(),
        outcome.tokens().length,
        outcome.firstTokenNanos() / 1_000_000,
        outcome.accepted(),
        outcome.drafted());
    if (outcome.failed()) {
      fail(r, ErrorCode.ENGINE_FAILURE, outcome.message());
    } else if (r.session() != null) {
      remember(r, finished, now);
    }
    Completion completion =
        events.completion(
            r.requestId(),
            sessionId(r),
            r.turn().params().seed(),
            outcome,
            request.historyLength + r.turn().tokens().length,
            now - r.acceptedAtMs());
    context.forward(
        new Record<String, Object>(r.requestId(), completion, now),
        sink(LatentstreamTopology.COMPLETIONS, r));
    inFlight.delete(key(r));
    if (r.session() != null) {
      startNextTurn(r.session());
    }
  }

  /**
   * Appends the turn and its reply to the session, with the latents computed for them. Were the
   * session's cache to have changed since the turn started (it cannot while the turn runs: a
   * session's turns run one at a time), the latents would not line up with it: then only the
   * history is kept, and the next turn computes what is missing.
   */
  private void remember(InFlightRequest r, LoopOutbox.Finished finished, long now) {
    GenerationOutcome outcome = finished.outcome();
    Optional<SessionEntry> entry = sessions.entry(r.session());
    int[] history =
        SessionTurns.historyAfter(
            entry.map(SessionEntry::history).orElse(new int[0]),
            r.turn(),
            outcome.tokens(),
            model.tokenizer() == null ? null : model.tokenizer().eosId());
    int cachedBefore = entry.map(sessions::resumableTokens).orElse(0);
    byte[] appended = new byte[0];
    int cached = cachedBefore;
    if (finished.latents() != null && finished.cachedBefore() == cachedBefore) {
      int bytesPerToken = model.engine().bytesPerToken();
      int computed = finished.latents().length / bytesPerToken;
      cached = Math.max(cachedBefore, Math.min(cachedBefore + computed, history.length));
      appended = Arrays.copyOf(finished.latents(), (cached - cachedBefore) * bytesPerToken);
    }
    sessions.append(r.session(), history, cached, appended, now);
    observer.sessionCacheWritten(appended.length);
  }

  /** Reports a refused record on the errors topic of its tenant. */
  private void refuse(Arrival.Refused refused, long timestamp) {
    GenerationError error = refused.error();
    observer.refused(refused.tenant() == null ? "" : refused.tenant(), error.getCode());
    LOG.info(
        "refused {}-{}@{}: {} {}",
        error.getSourceTopic(),
        error.getSourcePartition(),
        error.getSourceOffset(),
        error.getCode(),
        error.getMessage());
    context.forward(
        new Record<String, Object>(error.getRequestId(), error, timestamp),
        LatentstreamTopology.sinkName(LatentstreamTopology.GENERATION_ERRORS, refused.tenant()));
  }

  /**
   * Reports a request that failed after it was accepted (its prompt was valid), naming its prompt
   * (this task's partition, the prompt's offset), as a refused duplicate is named.
   */
  private void fail(InFlightRequest request, ErrorCode code, String message) {
    observer.failed(metricsTenant(request), code);
    LOG.warn("failed: {} {}", code, message);
    forwardError(request, error(request.requestId(), code, message));
  }

  private void forwardError(InFlightRequest request, GenerationError.Builder error) {
    context.forward(
        new Record<String, Object>(
            request.requestId(),
            error
                .setSourceTopic(topics.eventTopic(tenantTopics(request), Topics.PROMPTS))
                .setSourcePartition(context.taskId().partition())
                .setSourceOffset(request.offset())
                .build(),
            context.currentSystemTimeMs()),
        sink(LatentstreamTopology.GENERATION_ERRORS, request));
  }

  /** The tenant whose topics a request's events go to, null where tenants have none apart. */
  private String tenantTopics(InFlightRequest request) {
    return topics.tenants().isEmpty() ? null : request.tenant();
  }

  /** The sink of {@code output} for the request's events: its tenant's topic. */
  private String sink(String output, InFlightRequest request) {
    return LatentstreamTopology.sinkName(output, tenantTopics(request));
  }

  /**
   * The tenant metrics name: the request's where tenants have topics of their own, else none (a
   * payload's tenant is anything a publisher writes: as a metrics tag, unbounded).
   */
  private String metricsTenant(InFlightRequest request) {
    String tenant = tenantTopics(request);
    return tenant == null ? "" : tenant;
  }

  private GenerationError.Builder error(String requestId, ErrorCode code, String message) {
    return OutputEvents.error(
        requestId, code, message, Instant.ofEpochMilli(context.currentSystemTimeMs()));
  }

  /** The request's session id on its events, null outside sessions. */
  private static String sessionId(InFlightRequest request) {
    return request.session() == null ? null : request.session().session();
  }

  private void evict(long now) {
    SessionCacheStore.Evicted evicted =
        sessions.evict(now, settings.sessionTtl().toMillis(), settings.sessionCacheMaxBytes());
    if (evicted.sessions() > 0 || evicted.caches() > 0) {
      observer.evicted(evicted.sessions(), evicted.caches(), 0);
      LOG.info(
          "forgot {} expired sessions, dropped {} session caches",
          evicted.sessions(),
          evicted.caches());
    }
  }

  @Override
  public void close() {
    // The partition moves to another instance, which resumes these requests from the changelog.
    active.keySet().forEach(model.loop()::cancel);
    active.clear();
    if (emitting != null) {
      emitting.cancel();
      emitting = null;
    }
    turns.clear();
    claimsToResend.clear();
  }
}
