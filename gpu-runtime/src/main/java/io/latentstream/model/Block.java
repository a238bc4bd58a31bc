package io.latentstream.model;

import io.latentstream.backend.Kernels;

/** A pre-norm decoder block: x += MLA(attnNorm(x)); x += ffn(ffnNorm(x)). */
public record Block(int layer, RMSNorm attnNorm, MLA attn, RMSNorm ffnNorm, FeedForward ffn) {
  /**
   * Transforms the residual stream ws.x of the batch in place, reading and extending layer {@code
   * cacheLayer} of each segment's cache.
   */
  public void forward(Kernels k, Workspace ws, Batch b, int cacheLayer, Trace trace) {
    int rows = b.rows();
    int n = rows * attnNorm.dim();
    long started = System.nanoTime();
    attnNorm.apply(ws.x, 0, ws.xn, 0, rows);
    attn.forward(k, ws, b, cacheLayer);
    for (int i = 0; i < n; i++) {
      ws.x[i] += ws.out[i];
    }
    long attended = System.nanoTime();
    ffnNorm.apply(ws.x, 0, ws.xn, 0, rows);
    ffn.forward(k, ws, rows, layer, trace);
    for (int i = 0; i < n; i++) {
      ws.x[i] += ws.out[i];
    }
    ws.phases.add(Phase.ATTENTION, attended - started);
    ws.phases.add(Phase.FFN, System.nanoTime() - attended);
  }
}
