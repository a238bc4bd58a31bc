package io.latentstream.console;

import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.topology.PipelineObserver;
import io.micronaut.context.annotation.Requires;
import jakarta.inject.Singleton;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * Feeds the console's live token streams, token by token as the generation loop produces them
 * (whatever form a request's events take on Kafka, token events or chunks): every start, token and
 * end the processor reports goes to the connected browsers (a multicast sink that drops for slow
 * subscribers rather than buffering without bound), and the events of the most recent requests are
 * kept (bounded) so a page opened mid-generation shows them.
 */
@Requires(property = "latentstream.console-enabled", notEquals = "false")
@Singleton
public class ConsoleBroadcaster implements PipelineObserver {
  /** Events kept for pages that connect later (about a few dozen recent requests). */
  static final int RECENT_EVENTS = 4096;

  private final Sinks.Many<ConsoleEvent> sink = Sinks.many().multicast().directBestEffort();
  private final Deque<ConsoleEvent> recent = new ArrayDeque<>();

  /** The recent events, then everything from now on. */
  public Flux<ConsoleEvent> events() {
    List<ConsoleEvent> replay;
    synchronized (recent) {
      replay = new ArrayList<>(recent);
    }
    return Flux.fromIterable(replay).concatWith(sink.asFlux());
  }

  private void publish(ConsoleEvent event) {
    synchronized (recent) {
      recent.addLast(event);
      while (recent.size() > RECENT_EVENTS) {
        recent.removeFirst();
      }
      // Emissions are serialized here: the sink refuses concurrent emitters.
      sink.tryEmitNext(event);
    }
  }

  @Override
  public void started(Request request, int promptTokens) {
    publish(
        new ConsoleEvent(
            "start",
            request.requestId(),
            request.sessionId(),
            null,
            promptTokens,
            false,
            System.currentTimeMillis()));
  }

  @Override
  public void token(Request request, TokenEmission token, long sinceLastNanos) {
    publish(
        new ConsoleEvent(
            "token",
            request.requestId(),
            request.sessionId(),
            token.textDelta(),
            token.index(),
            token.fromDraft(),
            System.currentTimeMillis()));
  }

  @Override
  public void finished(Request request, GenerationOutcome outcome) {
    publish(
        new ConsoleEvent(
            "end",
            request.requestId(),
            request.sessionId(),
            outcome.finishReason().name(),
            outcome.tokens().length,
            false,
            System.currentTimeMillis()));
  }
}
