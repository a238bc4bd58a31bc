package io.latentstream.model;

import io.latentstream.backend.Kernels;

/**
 * The depth-1 Multi-Token Prediction module (DeepSeek-V3 paper, section 2.2, eq. 21-23): from the
 * main model's final hidden state at position i and the embedding of token i+1 it predicts token
 * i+2. It shares the main model's embedding and output head; its block has its own cache.
 */
public record MTP(RMSNorm enorm, RMSNorm hnorm, Linear ehProj, Block block, RMSNorm headNorm) {
  /**
   * Runs the module for the batch's rows: ws.concat must hold [enorm(embed(t_{i+1})), h_i] per row
   * (the h half not yet normalized); leaves the head-normalized state in ws.xn.
   */
  public void forward(Kernels k, Workspace ws, Batch b) {
    int rows = b.rows();
    int dim = enorm.dim();
    enorm.apply(ws.concat, 0, 2 * dim, ws.concat, 0, 2 * dim, rows);
    hnorm.apply(ws.concat, dim, 2 * dim, ws.concat, dim, 2 * dim, rows);
    ehProj.apply(k, ws.concat, 0, rows, ws.x, 0);
    block.forward(k, ws, b, 0, null);
    headNorm.apply(ws.x, 0, ws.xn, 0, rows);
  }
}
