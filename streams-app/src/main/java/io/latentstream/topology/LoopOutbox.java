package io.latentstream.topology;

import io.latentstream.engine.Sequence;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * What the generation loop's thread hands to a stream task's thread: each request's tokens and its
 * outcome, in the order the loop produced them, taken by the task at its punctuations. Events,
 * store updates and consumed offsets then commit together on the task's thread.
 */
final class LoopOutbox {
  /** An item the loop handed over: a token or a finished generation. */
  sealed interface Item permits Emitted, Finished {
    String requestId();
  }

  /** A token and when the engine emitted it (its event's produced_at). */
  record Emitted(TokenEmission token, long atMs) implements Item {
    @Override
    public String requestId() {
      return token.requestId();
    }
  }

  /**
   * A finished generation and, for a session's turn, the latents its sequence computed beyond the
   * session's cached tokens ([cachedBefore, the sequence's length)), copied out on the loop's
   * thread before the loop releases the sequence (the engine is the loop's alone).
   */
  record Finished(GenerationOutcome outcome, int cachedBefore, byte[] latents) implements Item {
    @Override
    public String requestId() {
      return outcome.requestId();
    }
  }

  private final Queue<Item> items = new ConcurrentLinkedQueue<>();
  private final PipelineObserver observer;

  LoopOutbox(PipelineObserver observer) {
    this.observer = observer;
  }

  /**
   * The loop's listener for one request: tells the observer (with the time since the previous
   * token) and hands the tokens and the outcome over; for a session's turn (cachedBefore: the
   * session's tokens the request imported) the outcome carries the latents computed beyond them.
   */
  GenerationListener listener(PipelineObserver.Request request, boolean session, int cachedBefore) {
    return new GenerationListener() {
      private long lastTokenNanos = -1;

      @Override
      public void onToken(TokenEmission token) {
        long now = System.nanoTime();
        items.add(new Emitted(token, System.currentTimeMillis()));
        observer.token(request, token, lastTokenNanos < 0 ? -1 : now - lastTokenNanos);
        lastTokenNanos = now;
      }

      @Override
      public void onFinished(GenerationOutcome outcome) {
        Sequence sequence = outcome.sequence();
        boolean keep = session && !outcome.failed() && sequence.length() >= cachedBefore;
        byte[] latents = keep ? sequence.exportRange(cachedBefore, sequence.length()) : null;
        // The observer first: once handed over, the request may already be completed and its
        // room in the loop given to the next.
        observer.finished(request, outcome);
        items.add(new Finished(outcome, cachedBefore, latents));
      }
    };
  }

  /** Takes the earliest item handed over, or null. */
  Item poll() {
    return items.poll();
  }

  boolean isEmpty() {
    return items.isEmpty();
  }
}
