package io.latentstream.backend.cuda;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.Matrix;
import io.latentstream.backend.cpu.VectorKernels;
import java.util.function.IntConsumer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;

/**
 * The CPU engine with its linear layers on the GPU: weights are uploaded once when packed, and each
 * {@link #matmul} sends its activation rows over, runs the GEMM and reads the result back.
 * Attention, norms and routing stay on the CPU ({@link VectorKernels}).
 *
 * <p>{@link Precision#FP32} keeps the weights in fp32 and sums in fp32 (one warp per output, a
 * fixed order): the CPU engine's numbers up to summation order, so greedy tokens and expert choices
 * match it; the service runs this. {@link Precision#BF16} runs the tensor-core kernels (bf16
 * weights and activations, fp32 sums), the fast path whose logits differ by bf16 rounding.
 *
 * <p>This is the first step of the CUDA backend, the one the service can run today; the
 * device-resident forward pass (activations and the latent cache on the GPU) is exercised by {@link
 * GpuCheck}. Each output element sums its products in the same order whatever the number of rows
 * (the GEMV and GEMM kernels share one per-element reduction), so batch invariance holds; the
 * numbers differ from the CPU backend's by bf16 rounding of the activations, so a replay must use
 * the backend that generated.
 */
public final class CudaKernels implements Kernels, AutoCloseable {
  /** How the linear layers compute on the device. */
  public enum Precision {
    FP32,
    BF16
  }

  private final CudaDevice device;
  private final VectorKernels cpu;
  private final Precision precision;
  private final CudaOps ops;
  private CUdeviceptr x;
  private CUdeviceptr y;
  private long xCapacity;
  private long yCapacity;

  public CudaKernels(CudaDevice device, VectorKernels cpu, Precision precision) {
    this.device = device;
    this.cpu = cpu;
    this.precision = precision;
    this.ops = new CudaOps(device);
  }

  public CudaDevice device() {
    return device;
  }

  /** Row-major weights [rows, cols] on the device, fp32 or bf16 by the precision. */
  record DeviceMatrix(CUdeviceptr w, int rows, int cols) implements Matrix {}

  @Override
  public synchronized Matrix pack(float[] w, int rows, int cols) {
    device.makeCurrent();
    return new DeviceMatrix(
        precision == Precision.BF16 ? device.uploadBf16(w) : device.upload(w), rows, cols);
  }

  /** Row-major on the device, so the first rows are a prefix of the same buffer. */
  @Override
  public Matrix firstRows(Matrix m, int rows) {
    Kernels.checkFirstRows(m, rows);
    DeviceMatrix w = (DeviceMatrix) m;
    return new DeviceMatrix(w.w(), rows, w.cols());
  }

  @Override
  public synchronized void matmul(Matrix m, float[] xs, int xOff, int n, float[] ys, int yOff) {
    if (n == 0) {
      return;
    }
    DeviceMatrix w = (DeviceMatrix) m;
    device.makeCurrent();
    long xLen = (long) n * w.cols();
    long yLen = (long) n * w.rows();
    if (xLen > xCapacity) {
      device.free(x);
      xCapacity = Math.max(xLen, 2 * xCapacity);
      x = device.alloc(xCapacity * Sizeof.FLOAT);
    }
    if (yLen > yCapacity) {
      device.free(y);
      yCapacity = Math.max(yLen, 2 * yCapacity);
      y = device.alloc(yCapacity * Sizeof.FLOAT);
    }
    device.copy(xs, xOff, (int) xLen, x);
    if (precision == Precision.BF16) {
      ops.linear(x, n, w.w(), y, w.rows(), w.cols());
    } else {
      ops.linearF32(x, n, w.w(), y, w.rows(), w.cols());
    }
    device.read(y, ys, yOff, (int) yLen);
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
    cpu.gemm(a, aOff, aStride, n, len, m, mOff, mStride, width, y, yOff, yStride);
  }

  @Override
  public void exp(float[] v, int off, int len, float shift) {
    cpu.exp(v, off, len, shift);
  }

  @Override
  public void swiglu(float[] g, float[] u, int off, int len) {
    cpu.swiglu(g, u, off, len);
  }

  @Override
  public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
    return cpu.dot(a, aOff, b, bOff, len);
  }

  @Override
  public void axpy(float alpha, float[] xs, int xOff, float[] ys, int yOff, int len) {
    cpu.axpy(alpha, xs, xOff, ys, yOff, len);
  }

  @Override
  public void parallelFor(int n, long work, IntConsumer body) {
    cpu.parallelFor(n, work, body);
  }

  @Override
  public synchronized void close() {
    device.close();
  }
}
