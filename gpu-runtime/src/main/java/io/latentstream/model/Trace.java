package io.latentstream.model;

/** Optional observer of intermediate values (conformance tests compare them to goldens). */
public interface Trace {
  /** Hidden state k (0: embeddings, l+1: after layer l; the last after the final norm). */
  void hidden(int k, float[] x, int rows, int dim);

  /** The experts chosen in a MoE layer: rows x topK ids, in selection order. */
  void routing(int layer, int[] experts, int rows, int topK);
}
