package io.latentstream.model;

import io.latentstream.weights.TensorName;
import java.util.ArrayList;
import java.util.List;

/**
 * Every tensor a config calls for, in the checkpoint's names with their shapes, in the order {@link
 * Transformer#load} reads them layer by layer: what a checkpoint writer must write and what the
 * decode traffic of a step is counted from.
 */
public final class CheckpointLayout {
  /**
   * One tensor.
   *
   * @param layer its decoder layer (the MTP block's is num_hidden_layers), -1 outside the layers
   * @param expert its routed expert, -1 for any other tensor
   */
  public record Tensor(TensorName kind, int layer, int expert, long[] shape) {
    /** The checkpoint's name of it. */
    public String name() {
      return layer < 0 ? kind.in() : expert < 0 ? kind.in(layer) : kind.in(layer, expert);
    }

    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  private CheckpointLayout() {}

  /** The tensors of a config; the head only when it is not tied to the embedding. */
  public static List<Tensor> of(ModelConfig c) {
    List<Tensor> s = new ArrayList<>();
    long dim = c.hiddenSize();
    long h = c.numAttentionHeads();
    s.add(new Tensor(TensorName.EMBED, -1, -1, new long[] {c.vocabSize(), dim}));
    for (int l = 0; l < c.numHiddenLayers() + c.numNextnPredictLayers(); l++) {
      Layer layer = new Layer(s, l);
      layer.add(TensorName.ATTN_NORM, dim);
      if (c.qLoraRank() > 0) {
        layer.add(TensorName.WQ_A, c.qLoraRank(), dim);
        layer.add(TensorName.Q_NORM, c.qLoraRank());
        layer.add(TensorName.WQ_B, h * c.qkHeadDim(), c.qLoraRank());
      } else {
        layer.add(TensorName.WQ, h * c.qkHeadDim(), dim);
      }
      layer.add(TensorName.WKV_A, c.latentDim(), dim);
      layer.add(TensorName.KV_NORM, c.kvLoraRank());
      layer.add(TensorName.WKV_B, h * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank());
      layer.add(TensorName.WO, dim, h * c.vHeadDim());
      layer.add(TensorName.FFN_NORM, dim);
      if (c.isMoeLayer(l)) {
        long inter = c.moeIntermediateSize();
        layer.add(TensorName.GATE, c.nRoutedExperts(), dim);
        if (c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC) {
          layer.add(TensorName.GATE_BIAS, c.nRoutedExperts());
        }
        for (int e = 0; e < c.nRoutedExperts(); e++) {
          s.add(new Tensor(TensorName.EXPERT_W1, l, e, new long[] {inter, dim}));
          s.add(new Tensor(TensorName.EXPERT_W3, l, e, new long[] {inter, dim}));
          s.add(new Tensor(TensorName.EXPERT_W2, l, e, new long[] {dim, inter}));
        }
        if (c.nSharedExperts() > 0) {
          long shared = inter * c.nSharedExperts();
          layer.add(TensorName.SHARED_W1, shared, dim);
          layer.add(TensorName.SHARED_W3, shared, dim);
          layer.add(TensorName.SHARED_W2, dim, shared);
        }
      } else {
        layer.add(TensorName.MLP_W1, c.intermediateSize(), dim);
        layer.add(TensorName.MLP_W3, c.intermediateSize(), dim);
        layer.add(TensorName.MLP_W2, dim, c.intermediateSize());
      }
      if (l == c.numHiddenLayers()) {
        layer.add(TensorName.MTP_ENORM, dim);
        layer.add(TensorName.MTP_HNORM, dim);
        layer.add(TensorName.MTP_EH_PROJ, dim, 2 * dim);
        layer.add(TensorName.MTP_HEAD_NORM, dim);
      }
    }
    s.add(new Tensor(TensorName.NORM, -1, -1, new long[] {dim}));
    if (!c.tieWordEmbeddings()) {
      s.add(new Tensor(TensorName.HEAD, -1, -1, new long[] {c.vocabSize(), dim}));
    }
    return s;
  }

  /** Adds the tensors of one layer that are not per expert. */
  private record Layer(List<Tensor> to, int layer) {
    void add(TensorName kind, long... shape) {
      to.add(new Tensor(kind, layer, -1, shape));
    }
  }
}
