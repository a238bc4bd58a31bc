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

  /** W^UK per head: [H, qk_nope_head_dim, kv_lora_rank] (q_nope^T W^UK is the absorbed query). */
  private final float[] wkvBk;

  /**
   * W^UV per head, transposed: [H, kv_lora_rank, v_head_dim] (o_lat^T W^UV^T is the head output).
   */
  private final float[] wkvBvT;

  /** Heads rounded up to the kernels' vector width, for the all-heads score product. */
  private final int headsPadded;

  private final Linear wo;

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
    wkvBk = new float[nHeads * qkNopeHeadDim * kvLoraRank];
    wkvBvT = new float[nHeads * kvLoraRank * vHeadDim];
    for (int h = 0; h < nHeads; h++) {
      System.arraycopy(
          b,
          h * per * kvLoraRank,
          wkvBk,
          h * qkNopeHeadDim * kvLoraRank,
          qkNopeHeadDim * kvLoraRank);
      for (int d = 0; d < vHeadDim; d++) {
        for (int l = 0; l < kvLoraRank; l++) {
          wkvBvT[(h * kvLoraRank + l) * vHeadDim + d] =
              b[(h * per + qkNopeHeadDim + d) * kvLoraRank + l];
        }
      }
    }
    headsPadded = (nHeads + 7) / 8 * 8;
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
    // Absorb W^UK into every row's queries, head by head (one [rows, nope] x [nope, kv_lora]
    // product each), attend, then apply W^UV the same way.
    int qStride = nHeads * qkHeadDim;
    int latStride = nHeads * kvLoraRank;
    int vStride = nHeads * vHeadDim;
    int kvl = kvLoraRank;
    long headWork = (long) t * kvl * Math.max(qkNopeHeadDim, vHeadDim) * nHeads;
    k.parallelFor(
        nHeads,
        headWork,
        h ->
            k.gemm(
                ws.q,
                h * qkHeadDim,
                qStride,
                t,
                qkNopeHeadDim,
                wkvBk,
                h * qkNopeHeadDim * kvl,
                kvl,
                kvl,
                ws.qLat,
                h * kvl,
                latStride));
    long attnWork = 0;
    for (int s = 0; s < b.segments(); s++) {
      attnWork += (long) b.count()[s] * (b.pos0()[s] + b.count()[s]) * (latentDim + kvl) * nHeads;
    }
    k.parallelFor(t, attnWork, row -> attendRow(k, ws, b, layer, row));
    k.parallelFor(
        nHeads,
        headWork,
        h ->
            k.gemm(
                ws.oLat,
                h * kvl,
                latStride,
                t,
                kvl,
                wkvBvT,
                h * kvl * vHeadDim,
                vHeadDim,
                vHeadDim,
                ws.heads,
                h * vHeadDim,
                vStride));
    wo.apply(k, ws.heads, 0, t, ws.out, 0);
  }

  /**
   * Per-thread buffers that grow with the context: [latentDim, H'] queries, [len, H'] scores, [H,
   * len] probabilities.
   */
  private static final class Scratch {
    float[] qT = new float[0];
    float[] scores = new float[0];
    float[] probs = new float[0];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * One row, all heads at once. Absorbed MLA is multi-query attention over the shared latent rows,
   * so each cached row is read once for every head: scores = row^T Q^T with Q^T [latentDim, H'] (H'
   * = heads padded), then per head a softmax and the probability-weighted sum of latents.
   */
  private void attendRow(Kernels k, Workspace ws, Batch b, int layer, int row) {
    int s = segmentOf(b, row);
    int pos = b.pos0()[s] + row - b.start()[s];
    float[] slab = b.caches()[s].slab(layer);
    int latentDim = kvLoraRank + qkRopeHeadDim;
    int hp = headsPadded;
    Scratch sc = SCRATCH.get();
    if (sc.qT.length != latentDim * hp) {
      sc.qT = new float[latentDim * hp];
    }
    if (sc.scores.length < (pos + 1) * hp) {
      sc.scores = new float[Math.max((pos + 1) * hp, sc.scores.length * 2)];
    }
    int len = pos + 1;
    if (sc.probs.length < nHeads * len) {
      sc.probs = new float[Math.max(nHeads * len, sc.probs.length * 2)];
    }
    float[] qT = sc.qT;
    float[] scores = sc.scores;
    float[] probs = sc.probs;
    for (int h = 0; h < nHeads; h++) {
      int qOff = (row * nHeads + h) * qkHeadDim;
      int lat = (row * nHeads + h) * kvLoraRank;
      rope.rotate(ws.q, qOff + qkNopeHeadDim, ws.cos, ws.sin, row * (qkRopeHeadDim / 2));
      for (int l = 0; l < kvLoraRank; l++) {
        qT[l * hp + h] = ws.qLat[lat + l];
      }
      for (int d = 0; d < qkRopeHeadDim; d++) {
        qT[(kvLoraRank + d) * hp + h] = ws.q[qOff + qkNopeHeadDim + d];
      }
    }
    k.gemm(slab, 0, latentDim, pos + 1, latentDim, qT, 0, hp, hp, scores, 0, hp);
    for (int h = 0; h < nHeads; h++) {
      int ph = h * len;
      float max = Float.NEGATIVE_INFINITY;
      for (int p = 0; p < len; p++) {
        probs[ph + p] = scores[p * hp + h] * softmaxScale;
        max = Math.max(max, probs[ph + p]);
      }
      k.exp(probs, ph, len, max);
      float sum = 0;
      for (int p = 0; p < len; p++) {
        sum += probs[ph + p];
      }
      for (int p = 0; p < len; p++) {
        probs[ph + p] /= sum;
      }
    }
    // o_lat = probs^T c_kv for all heads in one [H, len] x [len, kv_lora] product, each slab row
    // read once per four heads: the latent rows of the slab, stride latentDim, first kvLoraRank.
    k.gemm(
        probs,
        0,
        len,
        nHeads,
        len,
        slab,
        0,
        latentDim,
        kvLoraRank,
        ws.oLat,
        row * nHeads * kvLoraRank,
        kvLoraRank);
  }

  private static int segmentOf(Batch b, int row) {
    int s = b.segments() - 1;
    while (b.start()[s] > row) {
      s--;
    }
    return s;
  }
}
