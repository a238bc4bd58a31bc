package io.latentstream.model;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Scratch buffers of one step, named with their shapes (T = rows of the step). Grown when a step
 * has more rows than any before, never shrunk, so decoding allocates nothing per token. One
 * workspace per engine: steps run one at a time.
 */
public final class Workspace {
  private final ModelConfig c;
  private int capacity;

  /** Time per phase since load, added by {@link Block#forward} and the engine's head. */
  public final PhaseTimes phases = new PhaseTimes();

  /** [T, dim] residual stream, normalized input, sublayer output. */
  float[] x;

  float[] xn;
  float[] out;

  /** [T, q_lora_rank] compressed query. */
  float[] qa;

  /** [T, H, qk_head_dim] queries; q_pe rotated in place. */
  float[] q;

  /** [T, kv_lora_rank + qk_rope_head_dim] the new latent rows before they enter the cache. */
  float[] kv;

  /** [T, H, kv_lora_rank] absorbed queries, then (reused) attention-weighted latents. */
  float[] qLat;

  float[] oLat;

  /** [T, H, v_head_dim] attention output per head. */
  float[] heads;

  /** [T, qk_rope_head_dim / 2] rotation angles per row. */
  float[] cos;

  float[] sin;

  /** [T, max(intermediate, shared intermediate)] SwiGLU gate and up projections. */
  float[] g;

  float[] u;

  /** [T, n_routed_experts] router scores; [T, top_k] chosen experts and weights. */
  float[] scores;

  int[] chosen;
  float[] weights;

  /** [T * top_k, ...] expert inputs grouped by expert, their gate/up, outputs. */
  float[] expertIn;

  float[] expertG;
  float[] expertU;
  float[] expertOut;
  int[] slotOf;
  int[] expertStart;

  /** [n_routed_experts] the experts with rows this step, a fill cursor per expert. */
  int[] activeExperts;

  int[] expertCursor;

  /** The next of the active experts for a thread to take (MoE's shared queue). */
  final AtomicInteger expertNext = new AtomicInteger();

  /** [top_k] a row's slots in ascending expert order. */
  int[] expertOrder;

  /** [T, 2 * dim] MTP concat(enorm(embed), hnorm(h)). */
  float[] concat;

  /** [T, dim] the residual stream (the caller embeds tokens here). */
  public float[] x() {
    return x;
  }

  /** [T, dim] after a forward pass: the final-norm hidden states. */
  public float[] xn() {
    return xn;
  }

  /** [T, 2 * dim] the MTP input rows. */
  public float[] concat() {
    return concat;
  }

  public Workspace(ModelConfig c) {
    this.c = c;
  }

  /** Makes every buffer hold at least T rows. */
  public void ensure(int rows) {
    if (rows <= capacity) {
      return;
    }
    int t = Math.max(rows, capacity * 2);
    int dim = c.hiddenSize();
    int h = c.numAttentionHeads();
    int k = Math.max(1, c.numExpertsPerTok());
    int ffn = Math.max(c.intermediateSize(), c.moeIntermediateSize() * c.nSharedExperts());
    x = new float[t * dim];
    xn = new float[t * dim];
    out = new float[t * dim];
    qa = new float[t * Math.max(1, c.qLoraRank())];
    q = new float[t * h * c.qkHeadDim()];
    kv = new float[t * c.latentDim()];
    qLat = new float[t * h * c.kvLoraRank()];
    oLat = new float[t * h * c.kvLoraRank()];
    heads = new float[t * h * c.vHeadDim()];
    cos = new float[t * c.qkRopeHeadDim() / 2];
    sin = new float[t * c.qkRopeHeadDim() / 2];
    g = new float[t * ffn];
    u = new float[t * ffn];
    scores = new float[t * Math.max(1, c.nRoutedExperts())];
    chosen = new int[t * k];
    weights = new float[t * k];
    expertIn = new float[t * k * dim];
    expertG = new float[t * k * Math.max(1, c.moeIntermediateSize())];
    expertU = new float[t * k * Math.max(1, c.moeIntermediateSize())];
    expertOut = new float[t * k * dim];
    slotOf = new int[t * k];
    expertStart = new int[c.nRoutedExperts() + 1];
    activeExperts = new int[c.nRoutedExperts()];
    expertCursor = new int[c.nRoutedExperts()];
    expertOrder = new int[k];
    concat = new float[t * 2 * dim];
    capacity = t;
  }
}
