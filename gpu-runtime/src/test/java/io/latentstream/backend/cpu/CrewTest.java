package io.latentstream.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The kernels' helper threads: every chunk exactly once, failures surfaced, callers apart. */
class CrewTest {
  private final Crew crew = Crew.shared();

  @Test
  void everyChunkRunsExactlyOnceAcrossManyHandOvers() {
    int chunks = crew.size();
    int runs = 20_000;
    AtomicIntegerArray counts = new AtomicIntegerArray(chunks);
    int ranOnCrew = 0;
    for (int r = 0; r < runs; r++) {
      if (crew.run(chunks, counts::incrementAndGet)) {
        ranOnCrew++;
      }
    }
    // Nothing else uses the crew in this test, so it is never found busy.
    assertEquals(runs, ranOnCrew);
    for (int c = 0; c < chunks; c++) {
      assertEquals(runs, counts.get(c), "chunk " + c);
    }
  }

  @Test
  void aFailingChunkIsRethrownToTheCallerAndTheCrewStaysUsable() {
    int last = crew.size() - 1;
    IllegalStateException thrown =
        assertThrows(
            IllegalStateException.class,
            () ->
                crew.run(
                    crew.size(),
                    c -> {
                      if (c == last) {
                        throw new IllegalStateException("chunk " + c);
                      }
                    }));
    assertEquals("chunk " + last, thrown.getMessage());
    AtomicIntegerArray counts = new AtomicIntegerArray(crew.size());
    assertTrue(crew.run(crew.size(), counts::incrementAndGet));
    for (int c = 0; c < crew.size(); c++) {
      assertEquals(1, counts.get(c));
    }
  }

  @Test
  void moreChunksThanThreadsAreRefusedForTheCallerToRun() {
    assertFalse(crew.run(crew.size() + 1, c -> {}));
  }

  /** Two engines' threads at once: each run either takes the crew or is refused, never mixed. */
  @Test
  void concurrentCallersNeverShareAHandOver() throws InterruptedException {
    int chunks = crew.size();
    AtomicLong wrong = new AtomicLong();
    CountDownLatch start = new CountDownLatch(1);
    Thread[] callers = new Thread[2];
    for (int t = 0; t < callers.length; t++) {
      callers[t] =
          new Thread(
              () -> {
                try {
                  start.await();
                } catch (InterruptedException e) {
                  return;
                }
                for (int r = 0; r < 5_000; r++) {
                  int[] seen = new int[chunks];
                  boolean ran = crew.run(chunks, c -> seen[c]++);
                  for (int c = 0; c < chunks; c++) {
                    if (seen[c] != (ran ? 1 : 0)) {
                      wrong.incrementAndGet();
                    }
                  }
                }
              });
      callers[t].start();
    }
    start.countDown();
    for (Thread t : callers) {
      t.join();
    }
    assertEquals(0, wrong.get());
  }
}
