package io.latentstream.scheduler;

import io.latentstream.engine.CacheCapacity;
import io.latentstream.engine.Engine;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Continuous batching over an {@link Engine}: requests join and leave between steps, each step runs
 * one batched forward pass over every running request (prefill chunks and decode tokens together),
 * then one batched MTP pass drafts the token after next for the requests that use it.
 *
 * <p>One step, as in nano-vllm's {@code LLMEngine.step}: plan, run the model, take the results,
 * draft, retire the finished. The loop runs on its own thread ({@link #start}) or on the caller's
 * ({@link #runUntilIdle}); submissions and cancellations from other threads are queued and applied
 * between steps.
 */
public final class GenerationLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GenerationLoop.class);

  private final Engine engine;
  private final Tokenizer tokenizer;
  private final Generation.Limits limits;
  private final Scheduler scheduler;
  private final CacheCapacity cache;
  private final LongSupplier clock;
  private final Queue<Runnable> inbox = new ConcurrentLinkedQueue<>();
  private final AtomicLong steps = new AtomicLong();
  private final AtomicLong generatedTokens = new AtomicLong();
  private final AtomicLong drafted = new AtomicLong();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicInteger held = new AtomicInteger();
  private final int maxRunning;
  private final DraftGate gate = new DraftGate();
  private volatile StepObserver observer = step -> {};
  private volatile Thread thread;
  private volatile boolean stopping;

  /**
   * @param maxRunning most sequences in one step
   * @param maxStepTokens most tokens in one step (prefill chunks are cut to fit)
   * @param mtpDrafting whether this deployment drafts with MTP (off automatically without MTP)
   */
  public record Settings(int maxRunning, int maxStepTokens, boolean mtpDrafting) {
    public static Settings defaults() {
      return new Settings(32, 512, true);
    }
  }

  /**
   * Counters since start, for metrics and benchmarks; {@code generatedTokens} counts each token as
   * it is emitted, so its rate over any window is the loop's output rate.
   */
  public record Stats(
      long steps, long generatedTokens, long drafted, long accepted, int running, int waiting) {}

  /**
   * What one step did and how long its phases took, for metrics: the sequences and token rows of
   * the forward pass, the rows drafted by MTP, and the nanoseconds spent in the forward pass, in
   * the MTP pass, and in the whole step (planning, sampling and retiring included).
   */
  public record StepStats(
      int sequences,
      int tokens,
      int draftRows,
      long forwardNanos,
      long draftNanos,
      long totalNanos) {}

  /** Called on the loop's thread after every step; implementations return quickly. */
  @FunctionalInterface
  public interface StepObserver {
    void onStep(StepStats step);
  }

  /**
   * @param tokenizer detokenizes the emitted text and finds stop strings and EOS; null emits no
   *     text (ids only) and refuses stop strings
   */
  public GenerationLoop(Engine engine, Tokenizer tokenizer, Settings settings) {
    this.engine = engine;
    this.tokenizer = tokenizer;
    Integer eos = tokenizer == null ? null : tokenizer.eosId();
    this.limits =
        new Generation.Limits(
            eos == null ? -1 : eos,
            engine.config().maxPositionEmbeddings(),
            settings.mtpDrafting() && engine.hasMtp());
    this.cache = engine.cacheCapacity();
    this.scheduler = new Scheduler(settings.maxRunning(), settings.maxStepTokens(), cache);
    this.maxRunning = settings.maxRunning();
    this.clock = System::nanoTime;
  }

  /** Sets who is told about each step (one observer; replaces the previous one). */
  public void observe(StepObserver observer) {
    this.observer = observer == null ? step -> {} : observer;
  }

  /**
   * Pins the probability an MTP draft needs to be proposed (0: always draft), for benchmarks and
   * tests; by default the {@link DraftGate} follows the measured step costs. Call before {@link
   * #start}.
   */
  public void pinDraftConfidence(float minConfidence) {
    gate.pin(minConfidence);
  }

  /** Queues a request; its tokens and outcome go to {@code listener} on the loop's thread. */
  public void submit(GenerationRequest request, GenerationListener listener) {
    if (tokenizer == null && !request.params().stopStrings().isEmpty()) {
      throw new IllegalArgumentException("stop strings need a tokenizer");
    }
    if (request.context().length >= limits.maxPositions()) {
      throw new IllegalArgumentException(
          "request "
              + request.requestId()
              + " has "
              + request.context().length
              + " tokens; the model's context is "
              + limits.maxPositions());
    }
    byte[] cached = request.cachedPrefix();
    if (cached != null && cached.length / engine.bytesPerToken() > request.context().length) {
      throw new IllegalArgumentException(
          "request " + request.requestId() + " has a cached prefix longer than its context");
    }
    int tokens =
        Math.min(
            CacheCapacity.tokensFor(request.promptLength(), request.params().maxNewTokens()),
            limits.maxPositions() + 1);
    if (!cache.fits(tokens)) {
      throw new IllegalArgumentException(
          "request "
              + request.requestId()
              + " may grow to "
              + tokens
              + " tokens; the engine's latent cache holds "
              + cache.blocks() * cache.blockTokens());
    }
    long now = clock.getAsLong();
    held.incrementAndGet();
    long blocks = cache.blocksFor(tokens);
    inbox.add(
        () -> scheduler.add(request.requestId(), blocks, () -> start(request, listener, now)));
    wake();
  }

  /**
   * Starts an admitted request, on the loop's thread (the engine, and a device's memory, is the
   * loop's alone): its sequence, with a session's cached latents imported.
   */
  private Generation start(GenerationRequest request, GenerationListener listener, long now) {
    Sequence sequence = engine.newSequence();
    if (request.cachedPrefix() != null) {
      sequence.importRange(0, request.cachedPrefix());
    }
    return new Generation(
        request,
        listener,
        sequence,
        limits,
        tokenizer == null ? null : tokenizer.newIncrementalDetokenizer(true),
        now);
  }

  /** Stops a request without an outcome (its partition moved to another instance). */
  public void cancel(String requestId) {
    inbox.add(
        () -> {
          if (scheduler.cancel(requestId)) {
            held.decrementAndGet();
          }
        });
    wake();
  }

  /**
   * Whether the loop has room for another request: it holds (queued or running) fewer than
   * max-running plus {@code maxWaiting}. Callers keep the rest where it costs no memory (in Kafka,
   * in a store) until there is room: a queued request already holds its context and, for a session,
   * its cached latents (in host memory until it starts).
   */
  public boolean hasRoom(int maxWaiting) {
    return held.get() < maxRunning + maxWaiting;
  }

  /** Runs the loop on a daemon thread until {@link #close}. */
  public synchronized void start() {
    if (thread != null) {
      throw new IllegalStateException("already started");
    }
    thread = new Thread(this::run, "generation-loop");
    thread.setDaemon(true);
    thread.start();
  }

  /** Runs steps on the calling thread until every submitted request has finished. */
  public void runUntilIdle() {
    if (thread != null) {
      throw new IllegalStateException("the loop runs on its own thread");
    }
    drainInbox();
    while (!scheduler.idle()) {
      step();
      drainInbox();
    }
  }

  public Stats stats() {
    return new Stats(
        steps.get(),
        generatedTokens.get(),
        drafted.get(),
        accepted.get(),
        scheduler.runningCount(),
        scheduler.waitingCount());
  }

  @Override
  public void close() {
    stopping = true;
    Thread running = thread;
    if (running != null) {
      LockSupport.unpark(running);
      try {
        running.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void run() {
    while (!stopping) {
      drainInbox();
      if (scheduler.idle()) {
        LockSupport.park(this);
        continue;
      }
      step();
    }
  }

  private void wake() {
    Thread running = thread;
    if (running != null) {
      LockSupport.unpark(running);
    }
  }

  private void drainInbox() {
    for (Runnable command; (command = inbox.poll()) != null; ) {
      command.run();
    }
  }

  /** One step: plan, forward, sample or verify, draft, retire. */
  private void step() {
    List<Scheduler.Planned> plan = scheduler.plan();
    List<StepRequest> requests = new ArrayList<>(plan.size());
    long started = clock.getAsLong();
    int tokens = 0;
    int draftRows = 0;
    long forwardNanos = 0;
    long draftNanos = 0;
    for (Scheduler.Planned planned : plan) {
      planned.generation().markStarted(started);
      requests.add(planned.step());
      tokens += planned.step().tokens().length;
    }
    // A lone generation past its prefill times a decode or a verify step for the draft gate.
    boolean lone = plan.size() == 1 && !plan.get(0).generation().prefilling();
    try {
      List<StepResult> results = engine.step(requests);
      long now = clock.getAsLong();
      forwardNanos = now - started;
      List<Generation> drafting = new ArrayList<>();
      List<MtpRequest> mtpRows = new ArrayList<>();
      for (int i = 0; i < plan.size(); i++) {
        Generation generation = plan.get(i).generation();
        int emitted = generation.generatedInThisRun();
        MtpRequest rows = generation.absorb(requests.get(i), results.get(i), now);
        generatedTokens.addAndGet(generation.generatedInThisRun() - emitted);
        if (rows != null) {
          drafting.add(generation);
          mtpRows.add(rows);
          draftRows += rows.nextTokens().length;
        }
      }
      if (!mtpRows.isEmpty()) {
        long draftStarted = clock.getAsLong();
        int[] drafts = engine.draft(mtpRows, gate.minConfidence());
        draftNanos = clock.getAsLong() - draftStarted;
        for (int i = 0; i < drafting.size(); i++) {
          drafting.get(i).draftFrom(drafts[i]);
        }
      }
      if (lone) {
        gate.observe(requests.get(0).tokens().length == 2, clock.getAsLong() - started);
      }
    } catch (RuntimeException e) {
      LOG.error("engine step failed; failing its {} requests", plan.size(), e);
      for (Scheduler.Planned planned : plan) {
        // The MDC key the service's log pattern prints, so the line names the request.
        try (MDC.MDCCloseable logContext =
            MDC.putCloseable("requestId", planned.generation().requestId())) {
          LOG.warn("failed with its engine step: {}", e.getMessage());
        }
        planned.generation().fail(e.getMessage());
      }
    }
    steps.incrementAndGet();
    long now = clock.getAsLong();
    for (Generation generation : scheduler.removeFinished()) {
      drafted.addAndGet(generation.drafted());
      accepted.addAndGet(generation.accepted());
      held.decrementAndGet();
      generation.finish(now);
    }
    try {
      observer.onStep(
          new StepStats(
              plan.size(),
              tokens,
              draftRows,
              forwardNanos,
              draftNanos,
              clock.getAsLong() - started));
    } catch (RuntimeException e) {
      LOG.warn("step observer failed", e);
    }
  }
}
