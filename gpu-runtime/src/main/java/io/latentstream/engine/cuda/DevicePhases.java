package io.latentstream.engine.cuda;

import io.latentstream.backend.cuda.EventMarks;
import io.latentstream.model.Phase;
import io.latentstream.model.PhaseTimes;
import java.util.HashMap;
import java.util.Map;

/**
 * GPU time per {@link Phase} for the metrics, as the CPU engine reports its own. An event before
 * and after every pass gives the pass's GPU time exactly. The split among phases needs an event at
 * each phase change (attention, FFN, attention, ..., head), and events recorded inside a CUDA graph
 * cannot be timed; so a pass launched kernel by kernel (prefill, mixed steps) is split by its own
 * marks, and a graphed pass is split in the proportions of its shape's last profiled pass: the
 * first of each shape, then one in {@link #PROFILE_EVERY}, runs without its graph and with the
 * marks (attention's share grows with the context, which changes the shape's chunks only every 256
 * tokens). Time before the first phase (the embedding gather, MTP's input projection) and after the
 * head (choosing tokens) is no phase's, as on the CPU.
 */
final class DevicePhases {
  /** One graphed pass of a shape in this many runs kernel by kernel to re-measure its split. */
  static final int PROFILE_EVERY = 64;

  private static final int START = -1;
  private static final int END = -2;

  /** The shape recorded for passes that do not replay graphs (their splits are not kept). */
  private static final long UNGRAPHED = -1;

  private final EventMarks marks;
  private final PhaseTimes totals = new PhaseTimes();

  /** By graphed shape: each phase's share of the pass's time, as last profiled. */
  private final Map<Long, double[]> shares = new HashMap<>();

  private final Map<Long, Integer> passes = new HashMap<>();
  private long shape;
  private boolean profiled;

  DevicePhases(EventMarks marks) {
    this.marks = marks;
  }

  /**
   * Starts timing a pass of a shape; returns whether it must run kernel by kernel with phase marks
   * (always when it would not replay a graph: it is launched so anyway).
   */
  boolean begin(long shape, boolean graphed) {
    settle();
    this.shape = graphed ? shape : UNGRAPHED;
    if (graphed) {
      int n = passes.merge(shape, 1, Integer::sum);
      this.profiled = !shares.containsKey(shape) || n % PROFILE_EVERY == 0;
    } else {
      this.profiled = true;
    }
    marks.mark(START);
    return profiled;
  }

  /** The pass enters a phase (marked only in a profiled pass; never inside a graph's capture). */
  void enter(Phase phase) {
    if (profiled) {
      marks.mark(phase.ordinal());
    }
  }

  /** The pass's last launch has been made. */
  void end() {
    marks.mark(END);
  }

  /** Nanoseconds of GPU time in a phase so far, up to the pass before the last. */
  long nanos(Phase phase) {
    return totals.nanos(phase);
  }

  /** Adds the last pass's time once the device is past it (it is, by the next pass). */
  private void settle() {
    if (marks.marked() == 0) {
      return;
    }
    int n = marks.marked();
    int[] label = new int[n];
    for (int i = 0; i < n; i++) {
      label[i] = marks.label(i);
    }
    float[] ms = marks.spans();
    double total = 0;
    double[] byPhase = new double[Phase.values().length];
    for (int i = 0; i < ms.length; i++) {
      total += ms[i];
      if (label[i] >= 0) {
        byPhase[label[i]] += ms[i];
      }
    }
    if (profiled) { // the marks split the pass; a graphed shape keeps the split for its replays
      if (shape != UNGRAPHED) {
        double[] share = new double[byPhase.length];
        for (int p = 0; p < share.length; p++) {
          share[p] = total > 0 ? byPhase[p] / total : 0;
        }
        shares.put(shape, share);
      }
    } else {
      double[] share = shares.get(shape);
      for (int p = 0; p < byPhase.length; p++) {
        byPhase[p] = total * share[p];
      }
    }
    for (Phase p : Phase.values()) {
      totals.add(p, Math.round(byPhase[p.ordinal()] * 1e6));
    }
  }
}
