package io.latentstream.backend;

import java.util.function.IntConsumer;

/**
 * The numeric kernels of the forward pass, over fp32 arrays. Implementations must give each output
 * element a result that depends only on its own inputs (never on {@code n}, the number of rows in
 * the call, nor on how work is split across threads): the engine's batch invariance rests on it.
 */
public interface Kernels {
  /** Converts row-major weights [rows, cols] into this backend's layout (done once, at load). */
  Matrix pack(float[] w, int rows, int cols);

  /**
   * y[yOff + t*rows + r] = dot(W[r, :], x[xOff + t*cols ...]) for r < rows, t < n: the linear layer
   * {@code x W^T} for n activation rows.
   */
  void matmul(Matrix w, float[] x, int xOff, int n, float[] y, int yOff);

  /**
   * y[yOff+j] = sum_d a[aOff+d] * m[mOff + d*width + j] for j < width: a row vector times a
   * row-major matrix [len, width], each output summed over d in ascending order.
   */
  void vecMat(float[] a, int aOff, int len, float[] m, int mOff, int width, float[] y, int yOff);

  /** sum_i a[aOff+i] * b[bOff+i]. */
  float dot(float[] a, int aOff, float[] b, int bOff, int len);

  /** y[yOff+i] += alpha * x[xOff+i]. */
  void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len);

  /** Runs body(i) for i in [0, n), possibly in parallel; each i must write disjoint outputs. */
  void parallelFor(int n, IntConsumer body);
}
