package io.latentstream.scheduler;

import io.latentstream.engine.StepRequest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;

/**
 * Chooses what each step computes (continuous batching): every running generation that decodes gets
 * its 1-2 tokens first, then prompts are prefilled in chunks within the step's token budget, and
 * waiting requests join as running slots free up. A long prompt therefore never stalls the decoding
 * of the others for more than one chunk.
 */
final class Scheduler {
  private final int maxRunning;
  private final int maxStepTokens;
  private final Deque<Generation> waiting = new ArrayDeque<>();
  private final List<Generation> running = new ArrayList<>();

  /** A generation and its input for the coming step. */
  record Planned(Generation generation, StepRequest step) {}

  Scheduler(int maxRunning, int maxStepTokens) {
    if (maxRunning <= 0 || maxStepTokens <= 1) {
      throw new IllegalArgumentException("a step needs room for at least one decoding sequence");
    }
    this.maxRunning = maxRunning;
    this.maxStepTokens = maxStepTokens;
  }

  void add(Generation generation) {
    waiting.addLast(generation);
  }

  boolean idle() {
    return waiting.isEmpty() && running.isEmpty();
  }

  /** The generations of the next step, in a deterministic order (admission order). */
  List<Planned> plan() {
    while (running.size() < maxRunning && !waiting.isEmpty()) {
      running.add(waiting.removeFirst());
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

  /** Drops finished generations, and any with the given request id (cancelled). */
  List<Generation> removeFinished() {
    List<Generation> done = new ArrayList<>();
    running.removeIf(
        generation -> {
          if (generation.finished()) {
            done.add(generation);
            return true;
          }
          return false;
        });
    return done;
  }

  /** Removes a request wherever it is; returns it, or null when unknown. */
  Generation cancel(String requestId) {
    for (Collection<Generation> pool : List.of(waiting, running)) {
      for (Iterator<Generation> it = pool.iterator(); it.hasNext(); ) {
        Generation generation = it.next();
        if (generation.requestId().equals(requestId)) {
          it.remove();
          return generation;
        }
      }
    }
    return null;
  }

  /** Every generation, waiting or running (to fail them all when the loop stops). */
  List<Generation> all() {
    List<Generation> all = new ArrayList<>(waiting);
    all.addAll(running);
    return all;
  }

  int runningCount() {
    return running.size();
  }

  int waitingCount() {
    return waiting.size();
  }
}
