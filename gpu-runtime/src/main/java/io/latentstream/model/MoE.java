package io.latentstream.model;

import io.latentstream.backend.Kernels;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * DeepSeekMoE (DeepSeek-V3 paper, eq. 12): fine-grained routed experts weighted by the {@link
 * Gate}, plus shared experts added unweighted. Rows are grouped by expert so each expert's weights
 * are read once per step; a row's output sums its experts in ascending id order, so the result
 * never depends on the other rows in the batch.
 */
public final class MoE implements FeedForward {
  private final int dim;
  private final int topK;
  private final Gate gate;
  private final MLP[] experts;
  private final MLP shared;

  /** Token rows routed to each expert since load, read by {@link ExpertLoad}. */
  private final AtomicLongArray routed;

  public MoE(ModelConfig c, Gate gate, MLP[] experts, MLP shared) {
    this.dim = c.hiddenSize();
    this.topK = c.numExpertsPerTok();
    this.gate = gate;
    this.experts = experts;
    this.shared = shared;
    this.routed = new AtomicLongArray(experts.length);
  }

  AtomicLongArray routed() {
    return routed;
  }

  @Override
  public void forward(Kernels k, Workspace ws, int rows, int layer, Trace trace) {
    gate.route(k, ws, rows);
    if (trace != null) {
      trace.routing(layer, Arrays.copyOf(ws.chosen, rows * topK), rows, topK);
    }
    int slots = rows * topK;
    int[] start = ws.expertStart;
    Arrays.fill(start, 0);
    for (int i = 0; i < slots; i++) {
      start[ws.chosen[i] + 1]++;
    }
    int active = 0;
    for (int e = 0; e < experts.length; e++) {
      if (start[e + 1] > 0) {
        active++;
        routed.getAndAdd(e, start[e + 1]);
      }
      start[e + 1] += start[e];
    }
    int[] activeIds = ws.activeExperts;
    for (int e = 0, a = 0; e < experts.length; e++) {
      if (start[e + 1] > start[e]) {
        activeIds[a++] = e;
      }
    }
    // Counting sort of (row, k) slots by expert; slotOf maps each slot to its grouped position.
    int[] cursor = ws.expertCursor;
    System.arraycopy(start, 0, cursor, 0, experts.length);
    for (int i = 0; i < slots; i++) {
      int dst = cursor[ws.chosen[i]]++;
      ws.slotOf[i] = dst;
      System.arraycopy(ws.xn, (i / topK) * dim, ws.expertIn, dst * dim, dim);
    }
    int inter = experts[0].inter();
    // Experts with the most rows first, each taken by whichever thread comes free: the threads'
    // shares then differ by at most about one small expert (a fixed split of the experts left one
    // thread idle while the other finished its larger ones). Any thread computing an expert writes
    // the same values to the same rows.
    int queued = active;
    byRowsDescending(activeIds, queued, start);
    AtomicInteger next = ws.expertNext;
    next.set(0);
    k.parallelFor(
        queued,
        3L * slots * dim * inter,
        unused -> {
          for (int a = next.getAndIncrement(); a < queued; a = next.getAndIncrement()) {
            int e = activeIds[a];
            int s0 = start[e];
            experts[e].apply(
                k,
                ws.expertIn,
                s0 * dim,
                start[e + 1] - s0,
                ws.expertG,
                ws.expertU,
                s0 * inter,
                ws.expertOut,
                s0 * dim);
          }
        });
    int[] order = ws.expertOrder;
    for (int t = 0; t < rows; t++) {
      sortByExpert(ws.chosen, t * topK, order);
      Arrays.fill(ws.out, t * dim, (t + 1) * dim, 0f);
      for (int i : order) {
        int slot = t * topK + i;
        k.axpy(ws.weights[slot], ws.expertOut, ws.slotOf[slot] * dim, ws.out, t * dim, dim);
      }
    }
    if (shared != null) {
      shared.apply(k, ws.xn, 0, rows, ws.g, ws.u, 0, ws.expertIn, 0);
      for (int i = 0, n = rows * dim; i < n; i++) {
        ws.out[i] += ws.expertIn[i];
      }
    }
  }

  /**
   * Sorts the first n expert ids by their row counts (start[e + 1] - start[e]), most first, ties by
   * id (insertion sort: at most n_routed_experts, once per layer).
   */
  private static void byRowsDescending(int[] ids, int n, int[] start) {
    for (int i = 1; i < n; i++) {
      int e = ids[i];
      int rows = start[e + 1] - start[e];
      int j = i;
      while (j > 0 && start[ids[j - 1] + 1] - start[ids[j - 1]] < rows) {
        ids[j] = ids[j - 1];
        j--;
      }
      ids[j] = e;
    }
  }

  /** Fills order with 0..topK-1 sorted by the experts they name (insertion sort, topK is small). */
  private void sortByExpert(int[] chosen, int off, int[] order) {
    for (int i = 0; i < topK; i++) {
      int j = i;
      while (j > 0 && chosen[off + order[j - 1]] > chosen[off + i]) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = i;
    }
  }
}
