package io.latentstream.model;

import io.latentstream.backend.Kernels;

/**
 * Multi-head Latent Attention (DeepSeek-V2 paper, section 2.1) in its absorbed form: W^UK is folded
 * into the query and W^UV applied after attention, so the cache holds only the normalized latent
 * c_kv and the rotated shared key k_pe, and keys and values are never decompressed per head.
 */
public final class MLA {
  private final int nHeads;
  private final int qLoraRank;
  private final int kvLoraRank;
  private final int qkNopeHeadDim;
  private final int qkRopeHeadDim;
  private final int qkHeadDim;
  private final int vHeadDim;
  private final float softmaxScale;
  private final Rope rope;

  /** Plain query projection when q_lora_rank is null, else wqA, qNorm, wqB. */
  private final Linear wq;

  private final Linear wqA;
  private final RMSNorm qNorm;
  private final Linear wqB;
  private final Linear wkvA;
  private final RMSNorm kvNorm;

  /** W^UK per head, transposed: [H, kv_lora_rank, qk_nope_head_dim] (q_nope to latent space). */
  private final float[] wkvBk;

  /** W^UV per head: [H, v_head_dim, kv_lora_rank]. */
  private final float[] wkvBv;

  private final Linear wo;

  /** Per-thread score buffer; it grows with the context. */
  private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[256]);

  public MLA(
      ModelConfig c,
      Rope rope,
      Linear wq,
      Linear wqA,
      RMSNorm qNorm,
      Linear wqB,
      Linear wkvA,
      RMSNorm kvNorm,
      float[] wkvB,
      Linear wo) {
    this.nHeads = c.numAttentionHeads();
    this.qLoraRank = c.qLoraRank();
    this.kvLoraRank = c.kvLoraRank();
    this.qkNopeHeadDim = c.qkNopeHeadDim();
    this.qkRopeHeadDim = c.qkRopeHeadDim();
    this.qkHeadDim = c.qkHeadDim();
    this.vHeadDim = c.vHeadDim();
    this.softmaxScale = (float) c.softmaxScale();
    this.rope = rope;
    this.wq = wq;
    this.wqA = wqA;
    this.qNorm = qNorm;
    this.wqB = wqB;
    this.wkvA = wkvA;
    this.kvNorm = kvNorm;
    this.wo = wo;
    // kv_b_proj rows per head: qk_nope_head_dim rows of W^UK, then v_head_dim rows of W^UV.
    int per = qkNopeHeadDim + vHeadDim;
    float[] b = wkvB;
    wkvBk = new float[nHeads * kvLoraRank * qkNopeHeadDim];
    wkvBv = new float[nHeads * vHeadDim * kvLoraRank];
    for (int h = 0; h < nHeads; h++) {
      for (int d = 0; d < qkNopeHeadDim; d++) {
        for (int l = 0; l < kvLoraRank; l++) {
          wkvBk[(h * kvLoraRank + l) * qkNopeHeadDim + d] = b[(h * per + d) * kvLoraRank + l];
        }
      }
      System.arraycopy(
          b,
          (h * per + qkNopeHeadDim) * kvLoraRank,
          wkvBv,
          h * vHeadDim * kvLoraRank,
          vHeadDim * kvLoraRank);
    }
  }

  /**
   * Attends the batch's rows (normalized input ws.xn) to their sequences' caches, appending their
   * own latents at layer {@code layer} first, and writes the output projection to ws.out.
   */
  public void forward(Kernels k, Workspace ws, Batch b, int layer) {
    int t = b.rows();
    if (qLoraRank > 0) {
      wqA.apply(k, ws.xn, 0, t, ws.qa, 0);
      qNorm.apply(ws.qa, 0, ws.qa, 0, t);
      wqB.apply(k, ws.qa, 0, t, ws.q, 0);
    } else {
      wq.apply(k, ws.xn, 0, t, ws.q, 0);
    }
    wkvA.apply(k, ws.xn, 0, t, ws.kv, 0);
    int half = qkRopeHeadDim / 2;
    int latentDim = kvLoraRank + qkRopeHeadDim;
    for (int s = 0; s < b.segments(); s++) {
      float[] slab = b.caches()[s].slab(layer);
      for (int i = 0; i < b.count()[s]; i++) {
        int row = b.start()[s] + i;
        int pos = b.pos0()[s] + i;
        rope.angles(pos, ws.cos, ws.sin, row * half);
        int kvRow = row * latentDim;
        kvNorm.apply(ws.kv, kvRow, ws.kv, kvRow, 1);
        rope.rotate(ws.kv, kvRow + kvLoraRank, ws.cos, ws.sin, row * half);
        System.arraycopy(ws.kv, kvRow, slab, pos * latentDim, latentDim);
      }
    }
    k.parallelFor(t * nHeads, rh -> attendHead(k, ws, b, layer, rh / nHeads, rh % nHeads));
    wo.apply(k, ws.heads, 0, t, ws.out, 0);
  }

  /** One (row, head): absorb the query, score the cache causally, mix latents, project to v. */
  private void attendHead(Kernels k, Workspace ws, Batch b, int layer, int row, int h) {
    int s = segmentOf(b, row);
    int pos = b.pos0()[s] + row - b.start()[s];
    float[] slab = b.caches()[s].slab(layer);
    int latentDim = kvLoraRank + qkRopeHeadDim;
    int qOff = (row * nHeads + h) * qkHeadDim;
    rope.rotate(ws.q, qOff + qkNopeHeadDim, ws.cos, ws.sin, row * (qkRopeHeadDim / 2));
    int lat = (row * nHeads + h) * kvLoraRank;
    for (int l = 0; l < kvLoraRank; l++) {
      ws.qLat[lat + l] =
          k.dot(wkvBk, (h * kvLoraRank + l) * qkNopeHeadDim, ws.q, qOff, qkNopeHeadDim);
    }
    float[] scores = SCORES.get();
    if (scores.length < pos + 1) {
      scores = new float[Math.max(pos + 1, scores.length * 2)];
      SCORES.set(scores);
    }
    float max = Float.NEGATIVE_INFINITY;
    for (int p = 0; p <= pos; p++) {
      float sc =
          k.dot(ws.qLat, lat, slab, p * latentDim, kvLoraRank)
              + k.dot(ws.q, qOff + qkNopeHeadDim, slab, p * latentDim + kvLoraRank, qkRopeHeadDim);
      sc *= softmaxScale;
      scores[p] = sc;
      max = Math.max(max, sc);
    }
    float sum = 0;
    for (int p = 0; p <= pos; p++) {
      scores[p] = (float) Math.exp(scores[p] - max);
      sum += scores[p];
    }
    java.util.Arrays.fill(ws.oLat, lat, lat + kvLoraRank, 0f);
    for (int p = 0; p <= pos; p++) {
      k.axpy(scores[p] / sum, slab, p * latentDim, ws.oLat, lat, kvLoraRank);
    }
    int hv = (row * nHeads + h) * vHeadDim;
    for (int d = 0; d < vHeadDim; d++) {
      ws.heads[hv + d] = k.dot(wkvBv, (h * vHeadDim + d) * kvLoraRank, ws.oLat, lat, kvLoraRank);
    }
  }

  private static int segmentOf(Batch b, int row) {
    int s = b.segments() - 1;
    while (b.start()[s] > row) {
      s--;
    }
    return s;
  }
}
