package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.sampling.SamplingParams;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.topology.TurnQueue.Held;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The queue of accepted requests that have not started, alone (no Kafka). */
class TurnQueueTest {
  private static final SessionKey CHAT = new SessionKey("t", "chat");
  private static final SessionKey OTHER = new SessionKey("t", "other");

  @Test
  void readyRequestsStartEarliestPromptFirst() {
    TurnQueue queue = new TurnQueue();
    queue.ready(new Held("b", 9, true));
    queue.ready(new Held("a", 3, true));
    queue.ready(new Held("c", 5, true));
    assertEquals("a", queue.pollReady().key());
    assertEquals("c", queue.pollReady().key());
    assertEquals("b", queue.pollReady().key());
    assertFalse(queue.anyReady());
    assertNull(queue.pollReady());
  }

  @Test
  void aSessionsTurnsRunOneAtATimeInPromptOrderOnceGranted() {
    TurnQueue queue = new TurnQueue();
    queue.hold(CHAT, new Held("t2", 20, false));
    queue.hold(CHAT, new Held("t1", 10, false));
    assertTrue(queue.hasWaiting(CHAT));
    assertFalse(queue.readyNext(CHAT, false), "the first turn's claim is not granted yet");
    queue.hold(CHAT, new Held("t2", 20, true)); // the later turn's verdict comes first
    assertFalse(queue.readyNext(CHAT, false), "the first turn still waits for its verdict");
    queue.hold(CHAT, new Held("t1", 10, true));
    assertFalse(queue.readyNext(CHAT, true), "an earlier turn of the session is generating");
    assertTrue(queue.readyNext(CHAT, false));
    assertEquals("t1", queue.pollReady().key());
    assertTrue(queue.hasWaiting(CHAT), "a turn leaves its session's queue when it starts");
    queue.drop(CHAT, 10);
    assertTrue(queue.readyNext(CHAT, false));
    assertEquals("t2", queue.pollReady().key());
    queue.drop(CHAT, 20);
    assertFalse(queue.hasWaiting(CHAT));
    assertFalse(queue.readyNext(CHAT, false));
  }

  /**
   * After a failover: granted one-off requests and each session's granted first turn are ready,
   * later turns wait, and every request whose verdict never came has its claim sent again.
   */
  @Test
  void resumingRebuildsTheQueueFromTheInFlightRequests() {
    TurnQueue queue = new TurnQueue();
    List<InFlightRequest> inFlight =
        List.of(
            request("late-turn", CHAT, 30, true),
            request("one-off", null, 12, true),
            request("unclaimed", null, 8, false),
            request("first-turn", CHAT, 15, true),
            request("other-turn", OTHER, 40, false));
    List<Held> resend = queue.resume(inFlight, InFlightRequest::requestId);
    assertEquals(List.of("unclaimed", "other-turn"), resend.stream().map(Held::key).toList());
    assertEquals("one-off", queue.pollReady().key());
    assertEquals("first-turn", queue.pollReady().key());
    assertFalse(queue.anyReady(), "the later turn waits; the unclaimed ones wait for verdicts");
    assertTrue(queue.hasWaiting(CHAT));
    assertTrue(queue.hasWaiting(OTHER));
  }

  private static InFlightRequest request(
      String id, SessionKey session, long offset, boolean claimed) {
    Turn turn = new Turn(new int[] {1, 2}, SamplingParams.greedy(4), false, false);
    return new InFlightRequest(
        id, session, "t", offset, turn, TokenEventForm.TOKEN, 0, claimed, new int[0]);
  }
}
