package io.latentstream.model;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;

/** A bias-free linear layer y = x W^T, W [out, in] in its backend's packed layout. */
public record Linear(Matrix w) {
  /** Packs weights [out, in] as stored for the kernels that will run the layer. */
  public static Linear of(Kernels k, Weight w) {
    return new Linear(k.pack(w));
  }

  public int out() {
    return w.rows();
  }

  public int in() {
    return w.cols();
  }

  /** Applies the layer to n rows of x (stride in) into y (stride out). */
  public void apply(Kernels k, float[] x, int xOff, int n, float[] y, int yOff) {
    k.matmul(w, x, xOff, n, y, yOff);
  }
}
