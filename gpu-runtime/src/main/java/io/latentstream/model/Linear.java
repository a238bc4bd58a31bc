package io.latentstream.model;

import io.latentstream.backend.Kernels;

/** A bias-free linear layer y = x W^T, W stored row-major [out, in] in fp32. */
public record Linear(float[] w, int out, int in) {
  public Linear {
    if (w.length != out * in) {
      throw new IllegalArgumentException(
          "weight holds " + w.length + " values, not " + out + "x" + in);
    }
  }

  /** Applies the layer to n rows of x (stride in) into y (stride out). */
  public void apply(Kernels k, float[] x, int xOff, int n, float[] y, int yOff) {
    k.matmul(w, 0, out, in, x, xOff, n, y, yOff);
  }
}
