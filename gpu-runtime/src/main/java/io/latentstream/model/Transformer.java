package io.latentstream.model;

import io.latentstream.backend.Kernels;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.TensorName;
import io.latentstream.weights.Weight;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The DeepSeek-V3 language model: embedding, decoder blocks, final norm, output head, and the
 * optional MTP module. Holds weights only; per-sequence state lives in {@link LatentCache}s and
 * per-step scratch in a {@link Workspace}.
 */
public final class Transformer {
  private final ModelConfig config;

  /** The embedding table [vocab, dim] as stored (bf16 stays bf16), widened row by row. */
  private final Weight embed;

  private final Block[] layers;
  private final RMSNorm norm;
  private final Linear head;
  private final MTP mtp;
  private final ExpertLoad expertLoad;

  private Transformer(
      ModelConfig config, Weight embed, Block[] layers, RMSNorm norm, Linear head, MTP mtp) {
    this.config = config;
    this.embed = embed;
    this.layers = layers;
    this.norm = norm;
    this.head = head;
    this.mtp = mtp;
    this.expertLoad = expertLoad(layers, mtp);
  }

  /** Routed token counts per expert of every MoE layer, the MTP block's last. */
  public ExpertLoad expertLoad() {
    return expertLoad;
  }

  private static ExpertLoad expertLoad(Block[] layers, MTP mtp) {
    List<Block> blocks = new ArrayList<>(Arrays.asList(layers));
    if (mtp != null) {
      blocks.add(mtp.block());
    }
    List<MoE> moe = new ArrayList<>();
    List<Integer> ids = new ArrayList<>();
    for (Block block : blocks) {
      if (block.ffn() instanceof MoE m) {
        moe.add(m);
        ids.add(block.layer());
      }
    }
    return new ExpertLoad(
        ids.stream().mapToInt(Integer::intValue).toArray(),
        moe.stream().map(MoE::routed).toArray(AtomicLongArray[]::new));
  }

  public ModelConfig config() {
    return config;
  }

  public Linear head() {
    return head;
  }

  /** The MTP module, or null when the checkpoint has none. */
  public MTP mtp() {
    return mtp;
  }

  /** Copies the embeddings of tokens into rows of dst (stride dstStride). */
  public void embed(int[] tokens, int n, float[] dst, int dstOff, int dstStride) {
    int dim = config.hiddenSize();
    for (int t = 0; t < n; t++) {
      embed.row(tokens[t], dst, dstOff + t * dstStride);
    }
  }

  /**
   * Runs the decoder over ws.x (the embedded rows of the batch) and leaves the final-norm hidden
   * states in ws.xn; the caches gain the rows' latents (their lengths are the caller's to set).
   */
  public void forward(Kernels k, Workspace ws, Batch b, Trace trace) {
    int rows = b.rows();
    int dim = config.hiddenSize();
    if (trace != null) {
      trace.hidden(0, ws.x.clone(), rows, dim);
    }
    for (Block layer : layers) {
      layer.forward(k, ws, b, layer.layer(), trace);
      if (trace != null && layer.layer() < layers.length - 1) {
        trace.hidden(layer.layer() + 1, ws.x.clone(), rows, dim);
      }
    }
    norm.apply(ws.x, 0, ws.xn, 0, rows);
    if (trace != null) {
      trace.hidden(layers.length, ws.xn.clone(), rows, dim);
    }
  }

  /** Reads every weight the config calls for, checking shapes, packed for the kernels k. */
  public static Transformer load(Checkpoint ck, ModelConfig c, Kernels k) throws IOException {
    int dim = c.hiddenSize();
    Weight embed = ck.weight(TensorName.EMBED.in(), c.vocabSize(), dim);
    Rope rope = new Rope(c);
    Block[] layers = new Block[c.numHiddenLayers()];
    for (int l = 0; l < layers.length; l++) {
      layers[l] = block(ck, k, c, rope, l);
    }
    RMSNorm norm = norm(ck, c, TensorName.NORM.in(), dim);
    Linear head =
        c.tieWordEmbeddings()
            ? Linear.of(k, embed)
            : linear(ck, k, TensorName.HEAD.in(), c.vocabSize(), dim);
    MTP mtp = null;
    if (c.numNextnPredictLayers() > 0) {
      int l = c.numHiddenLayers();
      mtp =
          new MTP(
              norm(ck, c, TensorName.MTP_ENORM.in(l), dim),
              norm(ck, c, TensorName.MTP_HNORM.in(l), dim),
              linear(ck, k, TensorName.MTP_EH_PROJ.in(l), dim, 2 * dim),
              block(ck, k, c, rope, l),
              norm(ck, c, TensorName.MTP_HEAD_NORM.in(l), dim));
    }
    return new Transformer(c, embed, layers, norm, head, mtp);
  }

  private static Block block(Checkpoint ck, Kernels k, ModelConfig c, Rope rope, int l)
      throws IOException {
    int dim = c.hiddenSize();
    int h = c.numAttentionHeads();
    int qOut = h * c.qkHeadDim();
    boolean qLora = c.qLoraRank() > 0;
    MLA attn =
        new MLA(
            c,
            rope,
            qLora ? null : linear(ck, k, TensorName.WQ.in(l), qOut, dim),
            qLora ? linear(ck, k, TensorName.WQ_A.in(l), c.qLoraRank(), dim) : null,
            qLora ? norm(ck, c, TensorName.Q_NORM.in(l), c.qLoraRank()) : null,
            qLora ? linear(ck, k, TensorName.WQ_B.in(l), qOut, c.qLoraRank()) : null,
            linear(ck, k, TensorName.WKV_A.in(l), c.latentDim(), dim),
            norm(ck, c, TensorName.KV_NORM.in(l), c.kvLoraRank()),
            // fp32: MLA splits it into per-head fp32 matrices for the absorbed products, so
            // this widened copy is transient (h * (nope + v) * kv_lora values, a small matrix).
            ck.read(TensorName.WKV_B.in(l), h * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank()),
            linear(ck, k, TensorName.WO.in(l), dim, h * c.vHeadDim()));
    FeedForward ffn;
    if (c.isMoeLayer(l)) {
      int inter = c.moeIntermediateSize();
      MLP[] experts = new MLP[c.nRoutedExperts()];
      for (int e = 0; e < experts.length; e++) {
        experts[e] =
            new MLP(
                linear(ck, k, TensorName.EXPERT_W1.in(l, e), inter, dim),
                linear(ck, k, TensorName.EXPERT_W3.in(l, e), inter, dim),
                linear(ck, k, TensorName.EXPERT_W2.in(l, e), dim, inter));
      }
      int sharedInter = inter * c.nSharedExperts();
      MLP shared =
          c.nSharedExperts() == 0
              ? null
              : new MLP(
                  linear(ck, k, TensorName.SHARED_W1.in(l), sharedInter, dim),
                  linear(ck, k, TensorName.SHARED_W3.in(l), sharedInter, dim),
                  linear(ck, k, TensorName.SHARED_W2.in(l), dim, sharedInter));
      String biasName = TensorName.GATE_BIAS.in(l);
      boolean needsBias = c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC;
      float[] bias = needsBias ? ck.read(biasName, c.nRoutedExperts()) : null;
      Gate gate = new Gate(c, linear(ck, k, TensorName.GATE.in(l), c.nRoutedExperts(), dim), bias);
      ffn = new MoE(c, gate, experts, shared);
    } else {
      int inter = c.intermediateSize();
      ffn =
          new MLP(
              linear(ck, k, TensorName.MLP_W1.in(l), inter, dim),
              linear(ck, k, TensorName.MLP_W3.in(l), inter, dim),
              linear(ck, k, TensorName.MLP_W2.in(l), dim, inter));
    }
    return new Block(
        l,
        norm(ck, c, TensorName.ATTN_NORM.in(l), dim),
        attn,
        norm(ck, c, TensorName.FFN_NORM.in(l), dim),
        ffn);
  }

  private static Linear linear(Checkpoint ck, Kernels k, String name, int out, int in)
      throws IOException {
    return Linear.of(k, ck.weight(name, out, in));
  }

  /** Norm weights (and the gate bias) stay fp32: vectors, a few KB per layer. */
  private static RMSNorm norm(Checkpoint ck, ModelConfig c, String name, int dim)
      throws IOException {
    return new RMSNorm(ck.read(name, dim), (float) c.rmsNormEps());
  }
}
