package io.latentstream.model;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Nanoseconds spent in each {@link Phase} since load, over every pass (the MTP pass included).
 * Added by the engine's thread a few times per layer and step (no allocation); read from any.
 */
public final class PhaseTimes {
  private final AtomicLongArray nanos = new AtomicLongArray(Phase.values().length);

  public void add(Phase phase, long elapsedNanos) {
    nanos.getAndAdd(phase.ordinal(), elapsedNanos);
  }

  public long nanos(Phase phase) {
    return nanos.get(phase.ordinal());
  }
}
