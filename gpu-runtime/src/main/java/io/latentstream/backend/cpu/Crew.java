package io.latentstream.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Helper threads for the kernels' parallel chunks, handed work through volatile fields and spinning
 * for a short while after each chunk before they park. A decode step issues dozens of kernels of a
 * few microseconds each; handing half of one to a parked ForkJoin worker cost ~40 us on the
 * development VM (more than the half it moved), while a spinning helper picks it up in well under
 * one. Between bursts (an idle engine) the helpers park, so they cost nothing.
 *
 * <p>One crew serves every kernel instance of the process (helpers are bounded by the cores, not by
 * the engines loaded); a caller that finds it busy with another caller's chunks runs its own
 * inline, so two engines never wait on each other.
 */
final class Crew {
  /**
   * How long a helper spins for its next chunk before parking: the gaps between a step's kernels
   * are shorter, and a chunk handed to a parked helper is taken back by the caller, so parking soon
   * costs little and leaves an idle engine's cores to others (200 us measured the same speed).
   */
  private static final long SPIN_NANOS = 20_000;

  /** How long a caller spins for a helper's chunk before parking (a chunk takes microseconds). */
  private static final long WAIT_SPIN_NANOS = 50_000;

  private static final Crew SHARED = new Crew(Runtime.getRuntime().availableProcessors() - 1);

  /** The process's crew: one helper per core beyond the caller's. */
  static Crew shared() {
    return SHARED;
  }

  private final Helper[] helpers;
  private final AtomicBoolean busy = new AtomicBoolean();

  private Crew(int helpers) {
    this.helpers = new Helper[Math.max(0, helpers)];
    for (int i = 0; i < this.helpers.length; i++) {
      this.helpers[i] = new Helper("latentstream-kernels-" + (i + 1));
    }
  }

  /** Chunks that can run at once: the caller plus the helpers. */
  int size() {
    return helpers.length + 1;
  }

  /**
   * Runs chunk(0) .. chunk(chunks - 1), chunk 0 on the caller and the others on helpers, and
   * returns when all are done, rethrowing a helper's failure. A chunk no helper has started when
   * the caller comes to wait for it, the caller runs itself: on a machine whose cores are taken by
   * other threads (a co-located broker, Kafka clients) a helper may not get one in time, and
   * spinning for it would only waste the caller's. Returns false without running anything when the
   * crew is busy with another caller or too small: the caller then runs the chunks itself.
   */
  boolean run(int chunks, IntConsumer chunk) {
    if (chunks > size() || !busy.compareAndSet(false, true)) {
      return false;
    }
    try {
      for (int c = 1; c < chunks; c++) {
        helpers[c - 1].hand(chunk, c);
      }
      try {
        chunk.accept(0);
      } finally {
        // Even when chunk 0 failed: a helper must be done before its mailbox is reused.
        for (int c = 1; c < chunks; c++) {
          helpers[c - 1].finish(chunk, c);
        }
      }
    } finally {
      busy.set(false);
    }
    return true;
  }

  /**
   * One helper thread and its mailbox: a chunk, whether it is still open (not yet taken by the
   * helper or back by the caller), and counts of hand-overs and of those the helper has finished.
   */
  private static final class Helper implements Runnable {
    private final Thread thread;
    private final AtomicBoolean open = new AtomicBoolean();
    private volatile IntConsumer chunk;
    private volatile int index;
    private volatile long handed;
    private volatile long finished;
    private volatile boolean parked;
    private volatile Thread waiter;
    private volatile Throwable failure;

    Helper(String name) {
      thread = new Thread(this, name);
      thread.setDaemon(true);
      thread.start();
    }

    void hand(IntConsumer chunk, int index) {
      this.chunk = chunk;
      this.index = index;
      open.set(true);
      handed++;
      if (parked) {
        LockSupport.unpark(thread);
      }
    }

    /** Runs the chunk on the caller if the helper has not taken it, else waits for the helper. */
    void finish(IntConsumer chunk, int index) {
      if (open.compareAndSet(true, false)) {
        chunk.accept(index);
        return;
      }
      long target = handed;
      long spinUntil = System.nanoTime() + WAIT_SPIN_NANOS;
      while (finished < target) {
        if (System.nanoTime() < spinUntil) {
          Thread.onSpinWait();
          continue;
        }
        // The helper lost its core (to a broker or Kafka thread, say): spinning on would keep
        // this core from running it. Park; the helper unparks the waiter when it finishes.
        waiter = Thread.currentThread();
        if (finished < target) {
          LockSupport.parkNanos(this, 1_000_000);
        }
        waiter = null;
      }
      Throwable t = failure;
      if (t != null) {
        failure = null;
        if (t instanceof RuntimeException r) {
          throw r;
        }
        if (t instanceof Error e) {
          throw e;
        }
        throw new IllegalStateException(t);
      }
    }

    @Override
    public void run() {
      long seen = 0;
      while (true) {
        long spinUntil = System.nanoTime() + SPIN_NANOS;
        while (handed == seen) {
          if (System.nanoTime() < spinUntil) {
            Thread.onSpinWait();
            continue;
          }
          // Park only after announcing it, and re-check: hand() either sees parked or was seen.
          parked = true;
          if (handed == seen) {
            LockSupport.park(this);
          }
          parked = false;
        }
        seen = handed;
        // The caller may have taken the chunk back; then there is nothing to run.
        if (open.compareAndSet(true, false)) {
          try {
            chunk.accept(index);
          } catch (Throwable t) {
            failure = t;
          }
        }
        finished = seen;
        Thread w = waiter;
        if (w != null) {
          LockSupport.unpark(w);
        }
      }
    }
  }
}
