package io.latentstream.topology;

import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.ErrorCode;
import java.util.List;

/**
 * What the pipeline's processors tell metrics and the console about requests (not to be confused
 * with the scheduler's GenerationListener, one request's callbacks from the loop). Token and
 * outcome calls come from the generation loop's thread, the others from stream threads:
 * implementations are thread-safe and return quickly. Every method defaults to doing nothing.
 */
public interface PipelineObserver {
  PipelineObserver NONE = new PipelineObserver() {};

  /**
   * Which request: its tenant where tenants have topics of their own, else empty (a payload's
   * tenant, unchecked, is no name to count by); {@code sessionId} null outside sessions.
   */
  record Request(String tenant, String requestId, String sessionId) {}

  /** A request was handed to the generation loop. */
  default void started(Request request, int promptTokens) {}

  /**
   * The loop produced a token.
   *
   * @param sinceLastNanos nanoseconds since the request's previous token in this run, or -1 for its
   *     first
   */
  default void token(Request request, TokenEmission token, long sinceLastNanos) {}

  /** The loop finished a request (any finish reason, errors included). */
  default void finished(Request request, GenerationOutcome outcome) {}

  /**
   * A session turn started: {@code cachedTokens} of its history came from the session cache ({@code
   * bytes} of latents loaded), 0 when nothing was cached.
   */
  default void sessionTurn(int cachedTokens, long bytes) {}

  /** A finished turn appended {@code bytes} of latents to its session's cache. */
  default void sessionCacheWritten(long bytes) {}

  /**
   * A consumed record of {@code tenant} (as in {@link Request}) was refused before generation
   * (invalid, duplicate, undecodable...).
   */
  default void refused(String tenant, ErrorCode code) {}

  /** An accepted request of {@code tenant} (as in {@link Request}) failed. */
  default void failed(String tenant, ErrorCode code) {}

  /**
   * An eviction pass forgot expired sessions, dropped latent caches (keeping their sessions'
   * histories) and expired completed request ids.
   */
  default void evicted(int sessions, int caches, int requestIds) {}

  /** Tells each of {@code observers}, in order. */
  static PipelineObserver all(List<? extends PipelineObserver> observers) {
    if (observers.isEmpty()) {
      return NONE;
    }
    if (observers.size() == 1) {
      return observers.get(0);
    }
    List<PipelineObserver> list = List.copyOf(observers);
    return new PipelineObserver() {
      @Override
      public void started(Request request, int promptTokens) {
        list.forEach(o -> o.started(request, promptTokens));
      }

      @Override
      public void token(Request request, TokenEmission token, long sinceLastNanos) {
        list.forEach(o -> o.token(request, token, sinceLastNanos));
      }

      @Override
      public void finished(Request request, GenerationOutcome outcome) {
        list.forEach(o -> o.finished(request, outcome));
      }

      @Override
      public void sessionTurn(int cachedTokens, long bytes) {
        list.forEach(o -> o.sessionTurn(cachedTokens, bytes));
      }

      @Override
      public void sessionCacheWritten(long bytes) {
        list.forEach(o -> o.sessionCacheWritten(bytes));
      }

      @Override
      public void refused(String tenant, ErrorCode code) {
        list.forEach(o -> o.refused(tenant, code));
      }

      @Override
      public void failed(String tenant, ErrorCode code) {
        list.forEach(o -> o.failed(tenant, code));
      }

      @Override
      public void evicted(int sessions, int caches, int requestIds) {
        list.forEach(o -> o.evicted(sessions, caches, requestIds));
      }
    };
  }
}
