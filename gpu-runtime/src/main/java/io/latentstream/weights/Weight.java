package io.latentstream.weights;

/**
 * A weight matrix [rows, cols], row-major, as the checkpoint stores it: handed to a backend's
 * {@code pack} without widening, so each backend keeps the stored bytes (or widens them itself, as
 * the reference kernels do).
 */
public sealed interface Weight {
  int rows();

  int cols();

  /** Row r widened to fp32 into dst[off ..]: exact for fp32 and bf16, dequantized for fp8. */
  void row(int r, float[] dst, int off);

  /** The whole matrix widened to fp32 by {@link #row}. */
  default float[] toFloats() {
    float[] w = new float[Math.multiplyExact(rows(), cols())];
    for (int r = 0; r < rows(); r++) {
      row(r, w, r * cols());
    }
    return w;
  }

  private static void checkLength(long length, int rows, int cols, String what) {
    if (rows < 0 || cols < 0 || length != (long) rows * cols) {
      throw new IllegalArgumentException(
          what + " holds " + length + " values, not " + rows + "x" + cols);
    }
  }

  /** fp32 values (also what other dtypes than bf16 and fp8 are widened to). */
  record F32(float[] values, int rows, int cols) implements Weight {
    public F32 {
      checkLength(values.length, rows, cols, "F32 weight");
    }

    @Override
    public void row(int r, float[] dst, int off) {
      System.arraycopy(values, r * cols, dst, off, cols);
    }
  }

  /** bf16 bits: value = intBitsToFloat(bits << 16), exactly. */
  record Bf16(short[] bits, int rows, int cols) implements Weight {
    public Bf16 {
      checkLength(bits.length, rows, cols, "BF16 weight");
    }

    @Override
    public void row(int r, float[] dst, int off) {
      for (int c = 0, i = r * cols; c < cols; c++, i++) {
        dst[off + c] = Float.intBitsToFloat(bits[i] << 16);
      }
    }
  }

  /**
   * fp8 e4m3 values with their fp32 block scales (weight_scale_inv) [ceil(rows / block), ceil(cols
   * / block)], row-major: w[r, c] = e4m3(values[r * cols + c]) * scale(r, c), DeepSeek-V3's
   * weight_dequant, rounded once to fp32.
   */
  record Fp8(byte[] values, float[] scales, int block, int rows, int cols) implements Weight {
    public Fp8 {
      checkLength(values.length, rows, cols, "F8_E4M3 weight");
      if (block < 1) {
        throw new IllegalArgumentException("fp8 block size " + block);
      }
      checkLength(
          scales.length, (rows + block - 1) / block, (cols + block - 1) / block, "fp8 scales");
    }

    /** Block scales per row of blocks. */
    public int scaleCols() {
      return (cols + block - 1) / block;
    }

    /** The block scale of element [r, c]. */
    public float scale(int r, int c) {
      return scales[(r / block) * scaleCols() + c / block];
    }

    @Override
    public void row(int r, float[] dst, int off) {
      for (int c = 0, i = r * cols; c < cols; c++, i++) {
        dst[off + c] = DType.e4m3(values[i]) * scale(r, c);
      }
    }
  }
}
