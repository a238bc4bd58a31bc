package io.latentstream.backend;

import io.latentstream.weights.Weight;
import java.util.function.IntConsumer;

/**
 * The numeric kernels of the forward pass, over fp32 arrays. Implementations must give each output
 * element a result that depends only on its own inputs (never on {@code n}, the number of rows in
 * the call, nor on how work is split across threads): the engine's batch invariance rests on it.
 */
public interface Kernels {
  /**
   * Converts a weight matrix [rows, cols] as the checkpoint stores it into this backend's layout
   * (done once, at load). The backend may keep w's arrays.
   */
  Matrix pack(Weight w);

  /**
   * The first {@code rows} rows of a packed matrix as a matrix of their own, sharing its storage (a
   * head restricted to a prefix of the vocabulary). Multiplying by it gives, for each of those
   * rows, bitwise what multiplying by the whole matrix gives.
   */
  Matrix firstRows(Matrix m, int rows);

  /**
   * y[yOff + t*rows + r] = dot(W[r, :], x[xOff + t*cols ...]) for r < rows, t < n: the linear layer
   * {@code x W^T} for n activation rows.
   */
  void matmul(Matrix w, float[] x, int xOff, int n, float[] y, int yOff);

  /**
   * The small activation-by-activation products of attention, BLAS style with row strides: y[t, j]
   * = sum_d a[t, d] * m[d, j] for t < n, j < width, d < len, where a[t, d] = a[aOff + t*aStride +
   * d], m[d, j] = m[mOff + d*mStride + j], y[t, j] = y[yOff + t*yStride + j]. Each output is summed
   * over d in ascending order, whatever n.
   */
  void gemm(
      float[] a,
      int aOff,
      int aStride,
      int n,
      int len,
      float[] m,
      int mOff,
      int mStride,
      int width,
      float[] y,
      int yOff,
      int yStride);

  /**
   * x[off+i] = e^(x[off+i] - shift) for arguments &lt;= 0 (a softmax's shifted scores): within a
   * few ulps of {@link Math#exp} down to e^-87, and below that some value under 2e-38, which no
   * softmax can tell from the exact one.
   */
  void exp(float[] x, int off, int len, float shift);

  /**
   * The SwiGLU gate, g[off+i] = silu(g[off+i]) * u[off+i] with silu(v) = v / (1 + e^-v), as v *
   * sigmoid(v) from e^-|v| (never an argument above 0, so it cannot overflow): within a few ulps of
   * the same formula on {@link Math#exp} for v >= -87; below, {@link #exp}'s flush gives a value
   * under |v u| 2e-38 where the exact one is smaller still.
   */
  void swiglu(float[] g, float[] u, int off, int len);

  /** sum_i a[aOff+i] * b[bOff+i]. */
  float dot(float[] a, int aOff, float[] b, int bOff, int len);

  /** y[yOff+i] += alpha * x[xOff+i]. */
  void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len);

  /**
   * Runs body(i) for i in [0, n), in parallel when {@code work} (multiply-adds in all, an estimate)
   * pays for a thread handoff; each i must write disjoint outputs.
   */
  void parallelFor(int n, long work, IntConsumer body);

  /** Throws unless {@code rows} is in [1, m.rows()]: the check every {@link #firstRows} makes. */
  static void checkFirstRows(Matrix m, int rows) {
    if (rows < 1 || rows > m.rows()) {
      throw new IllegalArgumentException(
          "cannot take the first " + rows + " rows of a matrix of " + m.rows());
    }
  }
}
