package io.latentstream.service;

import io.latentstream.model.ExpertLoad;
import io.latentstream.model.Phase;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.PipelineObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The service's Micrometer meters (scraped at {@code /prometheus}): what the generation loop does
 * per step, what requests see, the session cache, refusals and failures, and the load on every
 * routed expert. Meter names are listed in the README; Prometheus spells {@code a.b} as {@code
 * a_b}, adds {@code _total} to counters and {@code _seconds} to timers.
 */
@Singleton
public class GenerationMetrics implements PipelineObserver, GenerationLoop.StepObserver {
  private final MeterRegistry registry;

  /** Tokens generated, by tenant (as {@link PipelineObserver.Request} names it). */
  private final Map<String, Counter> tokens = new ConcurrentHashMap<>();

  private final Counter draftTokens;
  private final DistributionSummary batchSequences;
  private final DistributionSummary batchTokens;
  private final DistributionSummary draftRows;
  private final Timer forward;
  private final Timer draft;
  private final Timer host;
  private final Timer firstToken;
  private final Timer interToken;
  private final Timer queue;
  private final Counter sessionHits;
  private final Counter sessionMisses;
  private final Counter sessionLoadedBytes;
  private final Counter sessionWrittenBytes;
  private final Counter sessionsEvicted;
  private final Counter sessionCachesDropped;
  private final Counter requestIdsExpired;

  GenerationMetrics(MeterRegistry registry, ServedModel model) {
    this.registry = registry;
    GenerationLoop loop = model.loop();
    draftTokens =
        Counter.builder("latentstream.tokens.from.mtp.draft")
            .description("generated tokens that were MTP drafts accepted by verification")
            .register(registry);
    Gauge.builder("latentstream.requests.running", loop, l -> l.stats().running())
        .description("requests in the generation loop's running batch")
        .register(registry);
    Gauge.builder("latentstream.requests.waiting", loop, l -> l.stats().waiting())
        .description("requests queued for the running batch")
        .register(registry);
    FunctionCounter.builder("latentstream.engine.steps", loop, l -> l.stats().steps())
        .description("engine steps (batched forward passes)")
        .register(registry);
    FunctionCounter.builder("latentstream.mtp.drafted", loop, l -> l.stats().drafted())
        .description("tokens drafted by MTP, counted when their request finishes")
        .register(registry);
    FunctionCounter.builder("latentstream.mtp.accepted", loop, l -> l.stats().accepted())
        .description("MTP drafts accepted by verification, counted when their request finishes")
        .register(registry);
    batchSequences =
        DistributionSummary.builder("latentstream.batch.sequences")
            .description("sequences per engine step")
            .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256)
            .register(registry);
    batchTokens =
        DistributionSummary.builder("latentstream.batch.tokens")
            .description("token rows per engine step (prefill chunks and decode tokens)")
            .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
            .register(registry);
    draftRows =
        DistributionSummary.builder("latentstream.batch.draft.rows")
            .description("rows of the MTP drafting pass per engine step")
            .register(registry);
    forward = phase("forward", "the batched forward pass of the model");
    draft = phase("draft", "the MTP drafting pass");
    host = phase("host", "planning, sampling, verification and retiring");
    firstToken =
        latency(
            "latentstream.time.to.first.token",
            "from submission to the generation loop to the first token");
    interToken = latency("latentstream.inter.token.latency", "between two tokens of a request");
    queue =
        latency("latentstream.queue.time", "from submission to the request's first engine step");
    sessionHits =
        Counter.builder("latentstream.session.turns")
            .tag("cache", "hit")
            .description("session turns, by whether a cached prefix was loaded")
            .register(registry);
    sessionMisses =
        Counter.builder("latentstream.session.turns")
            .tag("cache", "miss")
            .description("session turns, by whether a cached prefix was loaded")
            .register(registry);
    sessionLoadedBytes =
        Counter.builder("latentstream.session.cache.loaded")
            .baseUnit("bytes")
            .description("latent cache bytes loaded from the session store")
            .register(registry);
    sessionWrittenBytes =
        Counter.builder("latentstream.session.cache.written")
            .baseUnit("bytes")
            .description("latent cache bytes appended to the session store")
            .register(registry);
    sessionsEvicted =
        Counter.builder("latentstream.evictions")
            .tag("kind", "session")
            .description(
                "evicted sessions, dropped session caches and expired completed request ids")
            .register(registry);
    sessionCachesDropped =
        Counter.builder("latentstream.evictions")
            .tag("kind", "session_cache")
            .description(
                "evicted sessions, dropped session caches and expired completed request ids")
            .register(registry);
    requestIdsExpired =
        Counter.builder("latentstream.evictions")
            .tag("kind", "request_id")
            .description(
                "evicted sessions, dropped session caches and expired completed request ids")
            .register(registry);
    for (Phase phase : Phase.values()) {
      FunctionCounter.builder(
              "latentstream.engine.phase", model.engine(), engine -> engine.phaseNanos(phase) / 1e9)
          .baseUnit("seconds")
          .tag("phase", phase.name().toLowerCase())
          .description(
              "time in each part of the forward passes (MTP included): attention, ffn, head")
          .register(registry);
    }
    ExpertLoad load = model.engine().expertLoad();
    for (int i = 0; i < load.layerCount(); i++) {
      int layer = i;
      for (int e = 0; e < load.experts(); e++) {
        int expert = e;
        FunctionCounter.builder(
                "latentstream.expert.routed.tokens", load, l -> l.routed(layer, expert))
            .tag("layer", Integer.toString(load.layer(i)))
            .tag("expert", Integer.toString(e))
            .description("token rows routed to a routed expert (the MTP block is the last layer)")
            .register(registry);
      }
    }
    loop.observe(this);
  }

  /** Tokens generated since start. */
  public double tokensGenerated() {
    return tokens.values().stream().mapToDouble(Counter::count).sum();
  }

  /** Time to first token of every finished request. */
  public Timer firstToken() {
    return firstToken;
  }

  /** Time between consecutive tokens of a request. */
  public Timer interToken() {
    return interToken;
  }

  private Timer phase(String phase, String what) {
    return Timer.builder("latentstream.engine.step")
        .tag("phase", phase)
        .description("engine step time by phase: " + what)
        .register(registry);
  }

  private Timer latency(String name, String what) {
    return Timer.builder(name)
        .description(what)
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1))
        .maximumExpectedValue(Duration.ofSeconds(60))
        .register(registry);
  }

  @Override
  public void onStep(GenerationLoop.StepStats step) {
    batchSequences.record(step.sequences());
    batchTokens.record(step.tokens());
    if (step.draftRows() > 0) {
      draftRows.record(step.draftRows());
    }
    forward.record(step.forwardNanos(), TimeUnit.NANOSECONDS);
    if (step.draftNanos() > 0) {
      draft.record(step.draftNanos(), TimeUnit.NANOSECONDS);
    }
    host.record(
        Math.max(0, step.totalNanos() - step.forwardNanos() - step.draftNanos()),
        TimeUnit.NANOSECONDS);
  }

  @Override
  public void token(Request request, TokenEmission token, long sinceLastNanos) {
    tokens
        .computeIfAbsent(
            request.tenant(),
            tenant ->
                Counter.builder("latentstream.tokens.generated")
                    .tag("tenant", tenant)
                    .description("tokens generated (each forwarded as a token event), by tenant")
                    .register(registry))
        .increment();
    if (token.fromDraft()) {
      draftTokens.increment();
    }
    if (sinceLastNanos >= 0) {
      interToken.record(sinceLastNanos, TimeUnit.NANOSECONDS);
    }
  }

  @Override
  public void finished(Request request, GenerationOutcome outcome) {
    Counter.builder("latentstream.requests.finished")
        .tag("tenant", request.tenant())
        .tag("reason", outcome.finishReason().name().toLowerCase())
        .description("requests finished by the generation loop, by tenant and finish reason")
        .register(registry)
        .increment();
    queue.record(outcome.queueNanos(), TimeUnit.NANOSECONDS);
    if (outcome.tokens().length > 0 && outcome.firstTokenNanos() > 0) {
      firstToken.record(outcome.firstTokenNanos(), TimeUnit.NANOSECONDS);
    }
  }

  @Override
  public void sessionTurn(int cachedTokens, long bytes) {
    if (cachedTokens > 0) {
      sessionHits.increment();
      sessionLoadedBytes.increment(bytes);
    } else {
      sessionMisses.increment();
    }
  }

  @Override
  public void sessionCacheWritten(long bytes) {
    sessionWrittenBytes.increment(bytes);
  }

  @Override
  public void refused(String tenant, ErrorCode code) {
    error(tenant, "refused", code);
  }

  @Override
  public void failed(String tenant, ErrorCode code) {
    error(tenant, "failed", code);
  }

  private void error(String tenant, String stage, ErrorCode code) {
    Counter.builder("latentstream.errors")
        .tag("tenant", tenant)
        .tag("stage", stage)
        .tag("code", code.name())
        .description("refused records and failed requests, by tenant and error code")
        .register(registry)
        .increment();
  }

  @Override
  public void evicted(int sessions, int caches, int requestIds) {
    sessionsEvicted.increment(sessions);
    sessionCachesDropped.increment(caches);
    requestIdsExpired.increment(requestIds);
  }
}
