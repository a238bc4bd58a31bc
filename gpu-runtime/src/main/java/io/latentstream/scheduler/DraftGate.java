package io.latentstream.scheduler;

/**
 * Decides how confident an MTP draft must be to be proposed. A draft makes the next step a verify
 * step (two rows) instead of a decode step (one); accepted, it saves a whole step: its forward
 * pass, its MTP pass, its sampling. With a verify step costing V and a decode step C, all of it
 * counted, a draft accepted with probability p pays when p C > V - C. brown-mtp's drafts are
 * accepted about as often as their probability under the MTP head says (0.15 below 0.1, 0.5 at 0.4,
 * 0.9 above 0.8, on its own greedy generations), so the gate asks for a probability of at least (V
 * - C) / C.
 *
 * <p>V / C is not a constant of the model: on this 2-core machine it was about 1.3 (a verify
 * forward pass 1.45 times a decode one: the second row needs its own experts), but it moves with
 * the machine's load and the JIT's code (BENCHMARKS.md, issue 6). So V and C are moving averages of
 * the loop's own steps of one sequence, the only ones where the two kinds compare cleanly. The
 * floor keeps some decode steps coming, to keep measuring C, at little cost: drafts under 0.1 are
 * accepted 0.15 of the time.
 */
final class DraftGate {
  static final float FLOOR = 0.1f;

  /** Until both kinds of step have been timed: the usual break-even, (1.3 C - C) / C. */
  static final float INITIAL = 0.3f;

  /** Weight of the newest step in the moving averages: about the last 32 steps count. */
  private static final double WEIGHT = 1.0 / 32;

  private double decodeNanos = Double.NaN;
  private double verifyNanos = Double.NaN;
  private float pinned = Float.NaN;

  /** Fixes the answer of {@link #minConfidence}, whatever the steps cost. */
  void pin(float minConfidence) {
    pinned = minConfidence;
  }

  /** Notes the time of a whole step that ran one generation, past its prefill. */
  void observe(boolean verify, long forwardNanos) {
    if (verify) {
      verifyNanos = average(verifyNanos, forwardNanos);
    } else {
      decodeNanos = average(decodeNanos, forwardNanos);
    }
  }

  private static double average(double mean, long sample) {
    return Double.isNaN(mean) ? sample : mean + WEIGHT * (sample - mean);
  }

  /** The probability a draft needs now. */
  float minConfidence() {
    if (!Float.isNaN(pinned)) {
      return pinned;
    }
    if (Double.isNaN(decodeNanos) || Double.isNaN(verifyNanos)) {
      return INITIAL;
    }
    double breakEven = (verifyNanos - decodeNanos) / decodeNanos;
    return (float) Math.min(1, Math.max(FLOOR, breakEven));
  }
}
