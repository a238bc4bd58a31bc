package io.latentstream.topology;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.NavigableSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * A task's accepted requests that have not started, as memory holds them: a key and a place, no
 * more (the requests stay in the in-flight store until they start), so a backlog takes a few dozen
 * bytes per request whatever its prompt or session.
 *
 * <ul>
 *   <li>Each session's turns wait in prompt order, one running at a time: how a prompt learns that
 *       its session is busy without scanning the store.
 *   <li>Requests that may start wait, earliest prompt first, for room in the generation loop
 *       (admission control: a request in the loop holds its context and, for a session, its
 *       imported cache).
 * </ul>
 *
 * After a restart or failover the queue is rebuilt from the in-flight store ({@link #resume}).
 */
final class TurnQueue {
  /** An accepted request that has not started: its store key, its prompt's offset, its claim. */
  record Held(String key, long offset, boolean claimed) {}

  private final Map<SessionKey, NavigableMap<Long, Held>> waiting = new HashMap<>();
  private final NavigableSet<Held> ready =
      new TreeSet<>(Comparator.comparingLong(Held::offset).thenComparing(Held::key));

  /** Queues a session's turn behind its earlier ones (a granted turn replaces its claim's). */
  void hold(SessionKey session, Held turn) {
    waiting.computeIfAbsent(session, s -> new TreeMap<>()).put(turn.offset(), turn);
  }

  /** Removes a turn from its session's queue, and the queue when it is the last. */
  void drop(SessionKey session, long offset) {
    NavigableMap<Long, Held> turns = waiting.get(session);
    if (turns != null) {
      turns.remove(offset);
      if (turns.isEmpty()) {
        waiting.remove(session);
      }
    }
  }

  /** Whether turns of the session wait (a ready turn waits until it starts). */
  boolean hasWaiting(SessionKey session) {
    return waiting.containsKey(session);
  }

  /**
   * Makes the session's earliest turn ready when its claim is granted and no turn of the session is
   * generating; it stays in the session's queue until it starts. Returns whether it did.
   */
  boolean readyNext(SessionKey session, boolean generating) {
    NavigableMap<Long, Held> turns = waiting.get(session);
    if (turns == null || turns.isEmpty() || generating) {
      return false;
    }
    Held first = turns.firstEntry().getValue();
    return first.claimed() && ready.add(first);
  }

  /** A request that may start as soon as the loop has room. */
  void ready(Held request) {
    ready.add(request);
  }

  /** Whether requests are ready. */
  boolean anyReady() {
    return !ready.isEmpty();
  }

  /** Takes the ready request with the earliest prompt. */
  Held pollReady() {
    return ready.pollFirst();
  }

  /**
   * Rebuilds the queue from the in-flight store after a restart or failover: session turns queue in
   * prompt order, granted one-off requests and each session's granted first turn become ready;
   * returns the requests whose claims must be sent again (their verdicts may never have come).
   */
  List<Held> resume(Iterable<InFlightRequest> inFlight, Function<InFlightRequest, String> key) {
    List<Held> claimsToResend = new ArrayList<>();
    for (InFlightRequest request : inFlight) {
      Held held = new Held(key.apply(request), request.offset(), request.claimed());
      if (request.session() != null) {
        hold(request.session(), held);
      } else if (request.claimed()) {
        ready.add(held);
      }
      if (!request.claimed()) {
        claimsToResend.add(held);
      }
    }
    List.copyOf(waiting.keySet()).forEach(session -> readyNext(session, false));
    return claimsToResend;
  }

  void clear() {
    waiting.clear();
    ready.clear();
  }
}
