package io.latentstream.scheduler;

import io.latentstream.engine.CacheCapacity;
import io.latentstream.engine.StepRequest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Chooses what each step computes (continuous batching): every running generation that decodes gets
 * its 1-2 tokens first, then prompts are prefilled in chunks within the step's token budget, and
 * waiting requests join as running slots free up. A long prompt therefore never stalls the decoding
 * of the others for more than one chunk.
 *
 * <p>Admission control: a request starts (its sequence is made, a session's cached latents
 * imported) only when the engine's latent cache has room for every token it may grow to, reserved
 * until it finishes; until then it waits, in arrival order (a large request is not overtaken
 * forever by small ones). So a full cache delays requests and never fails one mid-generation.
 */
final class Scheduler {
  private final int maxRunning;
  private final int maxStepTokens;
  private final CacheCapacity cache;
  private final Deque<Waiting> waiting = new ArrayDeque<>();
  private final List<Generation> running = new ArrayList<>();
  private final Map<Generation, Long> reservations = new IdentityHashMap<>();
  private long reservedBlocks;

  /** A generation and its input for the coming step. */
  record Planned(Generation generation, StepRequest step) {}

  /** A request waiting to start: the cache blocks it reserves, and how to start it. */
  record Waiting(String requestId, long blocks, Supplier<Generation> start) {}

  Scheduler(int maxRunning, int maxStepTokens, CacheCapacity cache) {
    if (maxRunning <= 0 || maxStepTokens <= 1) {
      throw new IllegalArgumentException("a step needs room for at least one decoding sequence");
    }
    this.maxRunning = maxRunning;
    this.maxStepTokens = maxStepTokens;
    this.cache = cache;
  }

  /** Queues a request that reserves {@code blocks} blocks of the cache while it runs. */
  void add(String requestId, long blocks, Supplier<Generation> start) {
    waiting.addLast(new Waiting(requestId, blocks, start));
  }

  boolean idle() {
    return waiting.isEmpty() && running.isEmpty();
  }

  /** The generations of the next step, in a deterministic order (admission order). */
  List<Planned> plan() {
    while (running.size() < maxRunning
        && !waiting.isEmpty()
        && reservedBlocks + waiting.peekFirst().blocks() <= cache.blocks()) {
      Waiting next = waiting.removeFirst();
      Generation generation = next.start().get();
      running.add(generation);
      reservations.put(generation, next.blocks());
      reservedBlocks += next.blocks();
    }
    List<Planned> plan = new ArrayList<>(running.size());
    int budget = maxStepTokens;
    for (Generation generation : running) {
      if (!generation.prefilling()) {
        plan.add(new Planned(generation, generation.nextStep(generation.decodeWidth())));
        budget -= generation.decodeWidth();
      }
    }
    for (Generation generation : running) {
      if (generation.prefilling() && budget > 0) {
        StepRequest step = generation.nextStep(budget);
        plan.add(new Planned(generation, step));
        budget -= step.tokens().length;
      }
    }
    return plan;
  }

  /** Drops the finished generations, their reservations returned; the caller releases them. */
  List<Generation> removeFinished() {
    List<Generation> done = new ArrayList<>();
    running.removeIf(
        generation -> {
          if (generation.finished()) {
            done.add(generation);
            reservedBlocks -= reservations.remove(generation);
            return true;
          }
          return false;
        });
    return done;
  }

  /**
   * Removes a request wherever it is: a waiting one simply goes, a running one gives its sequence
   * back to the engine. Returns whether it was there.
   */
  boolean cancel(String requestId) {
    if (waiting.removeIf(w -> w.requestId().equals(requestId))) {
      return true;
    }
    for (Iterator<Generation> it = running.iterator(); it.hasNext(); ) {
      Generation generation = it.next();
      if (generation.requestId().equals(requestId)) {
        it.remove();
        reservedBlocks -= reservations.remove(generation);
        generation.release();
        return true;
      }
    }
    return false;
  }

  int runningCount() {
    return running.size();
  }

  int waitingCount() {
    return waiting.size();
  }
}
