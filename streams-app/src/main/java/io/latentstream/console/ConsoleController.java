package io.latentstream.console;

import io.latentstream.model.ExpertLoad;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.service.GenerationMetrics;
import io.latentstream.serving.ServedModel;
import io.micronaut.context.annotation.Requires;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Produces;
import io.micronaut.http.sse.Event;
import io.micronaut.serde.annotation.Serdeable;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;

/**
 * The web console's API: live generation events (server-sent events) and cumulative counters the
 * page turns into rates and charts. The page itself is a static resource under {@code /console/}.
 */
@Requires(property = "latentstream.console-enabled", notEquals = "false")
@Controller("/console")
public class ConsoleController {
  /** A comment line now and then keeps idle connections open through proxies. */
  private static final Duration KEEP_ALIVE = Duration.ofSeconds(15);

  private final ConsoleBroadcaster broadcaster;
  private final ServedModel model;
  private final GenerationMetrics metrics;

  ConsoleController(ConsoleBroadcaster broadcaster, ServedModel model, GenerationMetrics metrics) {
    this.broadcaster = broadcaster;
    this.model = model;
    this.metrics = metrics;
  }

  /** Cumulative figures since start; the page differences two polls into rates. */
  @Serdeable
  public record Stats(
      String modelId,
      long atMs,
      double tokens,
      long steps,
      long drafted,
      long accepted,
      int running,
      int waiting,
      long firstTokenCount,
      double firstTokenTotalMs,
      long interTokenCount,
      double interTokenTotalMs,
      int[] layers,
      int mtpLayer,
      int experts,
      long[][] routed) {}

  @Get
  HttpResponse<?> index() {
    return HttpResponse.redirect(URI.create("/console/index.html"));
  }

  @Get("/api/stats")
  Stats stats() {
    GenerationLoop.Stats loop = model.loop().stats();
    ExpertLoad load = model.engine().expertLoad();
    int[] layers = new int[load.layerCount()];
    long[][] routed = new long[load.layerCount()][load.experts()];
    for (int i = 0; i < layers.length; i++) {
      layers[i] = load.layer(i);
      for (int e = 0; e < load.experts(); e++) {
        routed[i][e] = load.routed(i, e);
      }
    }
    return new Stats(
        model.modelId(),
        System.currentTimeMillis(),
        metrics.tokensGenerated(),
        loop.steps(),
        loop.drafted(),
        loop.accepted(),
        loop.running(),
        loop.waiting(),
        metrics.firstToken().count(),
        metrics.firstToken().totalTime(TimeUnit.MILLISECONDS),
        metrics.interToken().count(),
        metrics.interToken().totalTime(TimeUnit.MILLISECONDS),
        layers,
        model.engine().hasMtp() ? model.engine().config().numHiddenLayers() : -1,
        load.experts(),
        routed);
  }

  @Get("/api/events")
  @Produces(MediaType.TEXT_EVENT_STREAM)
  Publisher<Event<?>> events() {
    Flux<Event<?>> events = broadcaster.events().map(e -> Event.of(e));
    // The first comment goes out at once, so the response (and EventSource.onopen) starts even
    // when nothing is generating.
    Flux<Event<?>> keepAlive =
        Flux.interval(Duration.ZERO, KEEP_ALIVE).map(i -> Event.of("").comment("keep-alive"));
    return Flux.merge(events, keepAlive);
  }
}
