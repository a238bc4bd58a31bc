package io.latentstream.backend.cpu;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;
import java.util.function.IntConsumer;

/**
 * The obviously-correct kernels: sequential loops, one thread. The fast kernels are tested against
 * these.
 */
public final class ReferenceKernels implements Kernels {
  /** Row-major fp32 weights: bf16 widened, fp8 dequantized (its value times its block scale). */
  record RowMajor(float[] w, int rows, int cols) implements Matrix {}

  @Override
  public Matrix pack(Weight w) {
    return new RowMajor(w.toFloats(), w.rows(), w.cols());
  }

  @Override
  public Matrix firstRows(Matrix m, int rows) {
    RowMajor w = (RowMajor) m;
    Kernels.checkFirstRows(w, rows);
    return new RowMajor(w.w(), rows, w.cols());
  }

  @Override
  public void matmul(Matrix m, float[] x, int xOff, int n, float[] y, int yOff) {
    RowMajor w = (RowMajor) m;
    int rows = w.rows();
    int cols = w.cols();
    for (int t = 0; t < n; t++) {
      for (int r = 0; r < rows; r++) {
        y[yOff + t * rows + r] = dot(w.w(), r * cols, x, xOff + t * cols, cols);
      }
    }
  }

  @Override
  public void gemm(
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
      int yStride) {
    for (int t = 0; t < n; t++) {
      for (int j = 0; j < width; j++) {
        float s = 0;
        for (int d = 0; d < len; d++) {
          s += a[aOff + t * aStride + d] * m[mOff + d * mStride + j];
        }
        y[yOff + t * yStride + j] = s;
      }
    }
  }

  @Override
  public void exp(float[] x, int off, int len, float shift) {
    for (int i = off; i < off + len; i++) {
      x[i] = (float) Math.exp(x[i] - shift);
    }
  }

  @Override
  public void swiglu(float[] g, float[] u, int off, int len) {
    for (int i = off; i < off + len; i++) {
      float v = g[i];
      float e = (float) Math.exp(-Math.abs(v));
      float sigmoid = v >= 0 ? 1 / (1 + e) : e / (1 + e);
      g[i] = v * sigmoid * u[i];
    }
  }

  @Override
  public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
    float s = 0;
    for (int i = 0; i < len; i++) {
      s += a[aOff + i] * b[bOff + i];
    }
    return s;
  }

  @Override
  public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len) {
    for (int i = 0; i < len; i++) {
      y[yOff + i] += alpha * x[xOff + i];
    }
  }

  @Override
  public void parallelFor(int n, long work, IntConsumer body) {
    for (int i = 0; i < n; i++) {
      body.accept(i);
    }
  }
}
