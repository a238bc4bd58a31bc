package io.latentstream.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The Vector API kernels against the reference loops. Tolerance: relative 1e-5 of the sum of |a_i
 * b_i| (the bound on reordering a fp32 sum of up to ~1000 terms is n * 2^-24 ~ 6e-5 of it; in
 * practice errors stay far below). Elementwise axpy differs only by the rounding FMA skips. fp8
 * weights take the same tolerance against the reference's dequantized fp32 weights: the fp8 path
 * sums the exact products q x per 128-column stretch and scales each partial sum, the reference
 * rounds each weight q s first: the same terms grouped differently.
 */
class KernelsDifferentialTest {
  private final ReferenceKernels ref = new ReferenceKernels();
  private final VectorKernels fast = new VectorKernels(2);
  private final Random rnd = new Random(11);

  private float[] random(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) rnd.nextGaussian();
    }
    return v;
  }

  /** bf16-exact weights take the packed-bf16 path, others the fp32 path: test both. */
  private static float[] toBf16(float[] w) {
    float[] r = new float[w.length];
    for (int i = 0; i < w.length; i++) {
      r[i] = Float.intBitsToFloat(Float.floatToRawIntBits(w[i]) & 0xffff0000);
    }
    return r;
  }

  @Test
  void matmulAgreesForOddShapesAndRowCountsInBothLayouts() {
    matmulAgrees(false);
    matmulAgrees(true);
  }

  private void matmulAgrees(boolean bf16) {
    int[][] shapes = {{1, 1, 1}, {3, 7, 5}, {17, 33, 4}, {64, 256, 9}, {300, 130, 2}, {512, 96, 1}};
    for (int[] s : shapes) {
      int rows = s[0];
      int cols = s[1];
      int n = s[2];
      float[] w = bf16 ? toBf16(random(rows * cols)) : random(rows * cols);
      float[] x = random(n * cols + 5);
      float[] yr = new float[n * rows + 2];
      float[] yf = new float[n * rows + 2];
      ref.matmul(ref.pack(new Weight.F32(w, rows, cols)), x, 5, n, yr, 2);
      fast.matmul(fast.pack(new Weight.F32(w, rows, cols)), x, 5, n, yf, 2);
      for (int t = 0; t < n; t++) {
        for (int r = 0; r < rows; r++) {
          double mag = 0;
          for (int i = 0; i < cols; i++) {
            mag += Math.abs(w[r * cols + i] * x[5 + t * cols + i]);
          }
          assertEquals(
              yr[2 + t * rows + r],
              yf[2 + t * rows + r],
              1e-5 * mag + 1e-30,
              "row " + r + " token " + t + " of " + java.util.Arrays.toString(s));
        }
      }
    }
  }

  /**
   * A row prefix (the MTP draft head) gives bitwise the full matrix's first outputs, in both
   * layouts and for prefixes that end inside a packed block of 16 rows, with 1, 2 and 5 activation
   * rows.
   */
  @Test
  void firstRowsOfAMatrixGiveItsFirstOutputsBitwise() {
    int rows = 100;
    int cols = 40;
    for (boolean bf16 : new boolean[] {true, false}) {
      float[] w = bf16 ? toBf16(random(rows * cols)) : random(rows * cols);
      for (var kernels : new io.latentstream.backend.Kernels[] {fast, ref}) {
        var full = kernels.pack(new Weight.F32(w, rows, cols));
        for (int prefix : new int[] {1, 16, 37, 100}) {
          var first = kernels.firstRows(full, prefix);
          assertEquals(prefix, first.rows());
          for (int n : new int[] {1, 2, 5}) {
            float[] x = random(n * cols);
            float[] all = new float[n * rows];
            float[] some = new float[n * prefix];
            kernels.matmul(full, x, 0, n, all, 0);
            kernels.matmul(first, x, 0, n, some, 0);
            for (int t = 0; t < n; t++) {
              assertArrayEquals(
                  java.util.Arrays.copyOfRange(all, t * rows, t * rows + prefix),
                  java.util.Arrays.copyOfRange(some, t * prefix, (t + 1) * prefix),
                  "bf16 " + bf16 + ", prefix " + prefix + ", row " + t + " of " + n);
            }
          }
        }
        assertThrows(IllegalArgumentException.class, () -> kernels.firstRows(full, 0));
        assertThrows(IllegalArgumentException.class, () -> kernels.firstRows(full, rows + 1));
      }
    }
  }

  @Test
  void matmulOfOneRowIsBitwiseTheSameInsideAnyBatch() {
    int rows = 200;
    int cols = 77;
    float[] w = toBf16(random(rows * cols));
    float[] x = random(11 * cols);
    float[] all = new float[11 * rows];
    var packed = fast.pack(new Weight.F32(w, rows, cols));
    fast.matmul(packed, x, 0, 11, all, 0);
    for (int t = 0; t < 11; t++) {
      float[] one = new float[rows];
      fast.matmul(packed, x, t * cols, 1, one, 0);
      assertArrayEquals(java.util.Arrays.copyOfRange(all, t * rows, (t + 1) * rows), one);
    }
  }

  /** The fp8 block edge of DeepSeek-V3 and of the reference checkpoints. */
  private static final int FP8_BLOCK = 128;

  /**
   * Random fp8 e4m3 weights: every finite byte (NaN, 0x7f and 0xff, excluded: checkpoints never
   * hold it), so subnormals and the extremes +-448 occur, with one scale per 128x128 block drawn
   * from 2^-40 to 2^12: tiny, ordinary, and above 2^8, where the widening's 2^120 factor overflows
   * and the kernel splits it.
   */
  private Weight.Fp8 randomFp8(int rows, int cols) {
    byte[] v = new byte[rows * cols];
    for (int i = 0; i < v.length; i++) {
      int b;
      do {
        b = rnd.nextInt(256);
      } while ((b & 0x7f) == 0x7f);
      v[i] = (byte) b;
    }
    // The extremes and the smallest subnormals in the first row.
    byte[] edge = {0x7e, (byte) 0xfe, 0x01, (byte) 0x81, 0x07, 0x08, 0x00, (byte) 0x80};
    for (int i = 0; i < Math.min(cols, edge.length); i++) {
      v[i] = edge[i];
    }
    int sr = (rows + FP8_BLOCK - 1) / FP8_BLOCK;
    int sc = (cols + FP8_BLOCK - 1) / FP8_BLOCK;
    float[] s = new float[sr * sc];
    float[] pick = {0x1p-40f, 1.7e-4f, 3.1e-3f, 0.77f, 1f, 0x1p7f, 0x1p8f, 300f, 0x1p12f};
    for (int i = 0; i < s.length; i++) {
      s[i] = i < pick.length ? pick[i] : pick[rnd.nextInt(pick.length)] * (1 + rnd.nextFloat());
    }
    return new Weight.Fp8(v, s, FP8_BLOCK, rows, cols);
  }

  /** Shapes off every multiple of 16, 32 and 128, several scale blocks each way, n up to 9. */
  private static final int[][] FP8_SHAPES = {
    {1, 1}, {3, 7}, {33, 200}, {130, 129}, {300, 257}, {64, 384}, {257, 600}
  };

  @Test
  void fp8MatmulAgreesWithTheDequantizedReference() {
    for (int[] s : FP8_SHAPES) {
      int rows = s[0];
      int cols = s[1];
      Weight.Fp8 q = randomFp8(rows, cols);
      float[] w = q.toFloats();
      Matrix packed = fast.pack(q);
      assertTrue(packed instanceof Fp8Matmul.Packed, "fp8 stays fp8");
      for (int n : new int[] {1, 2, 5}) {
        float[] x = random(n * cols + 3);
        float[] yr = new float[n * rows + 1];
        float[] yf = new float[n * rows + 1];
        ref.matmul(ref.pack(q), x, 3, n, yr, 1);
        fast.matmul(packed, x, 3, n, yf, 1);
        for (int t = 0; t < n; t++) {
          for (int r = 0; r < rows; r++) {
            double mag = 0;
            for (int i = 0; i < cols; i++) {
              mag += Math.abs((double) w[r * cols + i] * x[3 + t * cols + i]);
            }
            assertEquals(
                yr[1 + t * rows + r],
                yf[1 + t * rows + r],
                1e-5 * mag + 1e-30,
                "row " + r + " token " + t + " of " + rows + "x" + cols + ", n " + n);
          }
        }
      }
    }
  }

  /**
   * A unit x reads out bitwise the dequantized weights fl(e4m3 * scale) (one exact product, scaled
   * and rounded once), in registers (one row) and through the scratch (several), for every scale,
   * those whose 2^56 fold overflows included.
   */
  @Test
  void fp8WeightsAreBitwiseTheDequantizedOnes() {
    int rows = 130;
    int cols = 300;
    Weight.Fp8 q = randomFp8(rows, cols);
    float[] w = q.toFloats();
    Matrix packed = fast.pack(q);
    for (int c : new int[] {0, 1, 5, 127, 128, 200, 299}) {
      for (int n : new int[] {1, 3}) {
        float[] x = new float[n * cols];
        for (int t = 0; t < n; t++) {
          x[t * cols + c] = 1f;
        }
        float[] y = new float[n * rows];
        fast.matmul(packed, x, 0, n, y, 0);
        for (int t = 0; t < n; t++) {
          for (int r = 0; r < rows; r++) {
            assertEquals(w[r * cols + c], y[t * rows + r], 0f, "w[" + r + ", " + c + "], n " + n);
          }
        }
      }
    }
  }

  /**
   * An fp8 output's bits do not depend on the batch (n = 1, 5, 9: registers or scratch, the row
   * anywhere in the batch) nor on the thread split (1 or 2 threads), nor on dropping later rows.
   */
  @Test
  void fp8MatmulIsBitwiseBatchAndThreadInvariant() {
    VectorKernels one = new VectorKernels(1);
    for (int[] s : FP8_SHAPES) {
      int rows = s[0];
      int cols = s[1];
      Weight.Fp8 q = randomFp8(rows, cols);
      Matrix packed = fast.pack(q);
      Matrix packedOne = one.pack(q);
      float[] x = random(9 * cols);
      float[][] alone = new float[9][rows];
      for (int t = 0; t < 9; t++) {
        fast.matmul(packed, x, t * cols, 1, alone[t], 0);
        float[] single = new float[rows];
        one.matmul(packedOne, x, t * cols, 1, single, 0);
        assertArrayEquals(alone[t], single, "1 vs 2 threads, row " + t);
      }
      for (int n : new int[] {5, 9}) {
        for (VectorKernels k : new VectorKernels[] {fast, one}) {
          float[] y = new float[n * rows];
          k.matmul(k == fast ? packed : packedOne, x, 0, n, y, 0);
          for (int t = 0; t < n; t++) {
            assertArrayEquals(
                alone[t],
                java.util.Arrays.copyOfRange(y, t * rows, (t + 1) * rows),
                "row " + t + " of " + n + " of " + rows + "x" + cols);
          }
        }
      }
      int prefix = Math.max(1, rows - 7);
      float[] some = new float[prefix];
      fast.matmul(fast.firstRows(packed, prefix), x, 0, 1, some, 0);
      assertArrayEquals(java.util.Arrays.copyOf(alone[0], prefix), some, "first " + prefix);
    }
  }

  @Test
  void gemmAgreesAcrossRowBlocksWidthsAndStrides() {
    for (int n : new int[] {1, 3, 4, 9}) {
      for (int width : new int[] {1, 5, 8, 19, 32, 40, 77}) {
        int len = 37;
        int aStride = len + 3;
        int mStride = width + 2;
        int yStride = width + 1;
        float[] a = random(2 + n * aStride);
        float[] m = random(3 + len * mStride);
        float[] yr = new float[1 + n * yStride];
        float[] yf = new float[1 + n * yStride];
        ref.gemm(a, 2, aStride, n, len, m, 3, mStride, width, yr, 1, yStride);
        fast.gemm(a, 2, aStride, n, len, m, 3, mStride, width, yf, 1, yStride);
        for (int t = 0; t < n; t++) {
          float[] one = new float[width];
          fast.gemm(a, 2 + t * aStride, aStride, 1, len, m, 3, mStride, width, one, 0, width);
          for (int j = 0; j < width; j++) {
            double mag = 0;
            for (int d = 0; d < len; d++) {
              mag += Math.abs(a[2 + t * aStride + d] * m[3 + d * mStride + j]);
            }
            float got = yf[1 + t * yStride + j];
            assertEquals(yr[1 + t * yStride + j], got, 1e-5 * mag + 1e-30, n + "x" + width);
            assertEquals(got, one[j], 0f, "row " + t + " alone must equal its row in the block");
          }
        }
      }
    }
  }

  @Test
  void expAgreesWithMathExpOverTheSoftmaxRange() {
    int n = 4003;
    float[] x = new float[n + 2];
    for (int i = 0; i < n; i++) {
      // Shifted softmax scores: 0 down to -100, plus the exact edges.
      x[2 + i] = 3f - 100f * i / (n - 1);
    }
    float[] yr = x.clone();
    float[] yf = x.clone();
    ref.exp(yr, 2, n, 3f);
    fast.exp(yf, 2, n, 3f);
    for (int i = 2; i < n + 2; i++) {
      if (x[i] - 3f >= -87f) {
        // Cephes expf is within about 1 ulp of the rounded exact value: allow 4.
        assertEquals(yr[i], yf[i], 4 * Math.ulp(yr[i]), "exp(" + (x[i] - 3f) + ")");
      } else {
        assertTrue(yf[i] >= 0 && yf[i] < 2e-38f, "exp(" + (x[i] - 3f) + ") = " + yf[i]);
      }
    }
    assertEquals(1f, yf[2], 0f, "exp(0) is exactly 1");
  }

  /**
   * Gate values from -100 to 100 (e^-|v| reaching the exp kernel's flush at e^-87), an offset and a
   * length that leaves a scalar tail. Tolerance: the exp kernel's 4 ulps carried through the
   * sigmoid, and one rounding each for the products.
   */
  @Test
  void swigluAgreesWithTheMathExpFormula() {
    int n = 2003;
    float[] g = new float[n + 3];
    float[] u = random(n + 3);
    for (int i = 0; i < n; i++) {
      g[3 + i] = -100f + 200f * i / (n - 1);
    }
    float[] yr = g.clone();
    float[] yf = g.clone();
    ref.swiglu(yr, u, 3, n);
    fast.swiglu(yf, u, 3, n);
    for (int i = 3; i < n + 3; i++) {
      // Below -87 the exp kernel's e^-87 flush stands in for e^v: a value under |v u| 2e-38.
      float flush = g[i] < -87f ? Math.abs(g[i] * u[i]) * 2e-38f : 0f;
      assertEquals(yr[i], yf[i], 6 * Math.ulp(yr[i]) + flush, "silu(" + g[i] + ") * " + u[i]);
      float textbook = (float) (g[i] / (1 + Math.exp(-g[i]))) * u[i];
      assertEquals(textbook, yf[i], 6 * Math.ulp(textbook) + flush, "textbook at " + g[i]);
    }
    assertEquals(0f, yf[3 + (n - 1) / 2], 0f, "silu(0) is 0");
  }

  @Test
  void axpyAgreesUpToTheFusedRounding() {
    float[] x = random(45);
    float[] yr = random(45);
    float[] y0 = yr.clone();
    float[] yf = yr.clone();
    ref.axpy(0.37f, x, 0, yr, 0, 45);
    fast.axpy(0.37f, x, 0, yf, 0, 45);
    for (int i = 0; i < 45; i++) {
      // FMA skips the product's rounding (half an ulp of alpha*x), then both round the sum.
      float product = 0.37f * x[i];
      assertEquals(yr[i], yf[i], Math.ulp(product) + Math.ulp(yr[i]), "from " + y0[i]);
    }
  }

  /**
   * From {@link VectorKernels#GEMM_ROWS} rows on, packed matmuls take {@link PackedGemm}'s blocked
   * path: bitwise what each row gives alone (the block kernels), on one thread or two, on shapes
   * that are multiples of nothing: a partial last block of weight rows, column tiles of unequal
   * width, more rows than one activation tile, and every remainder (1 to 5) of the six-row groups.
   */
  @Test
  void blockedMatmulOfManyRowsIsBitwiseEachRowAlone() {
    // {n, rows, cols}
    int[][] shapes = {
      {16, 1, 1},
      {17, 17, 3},
      {19, 37, 129},
      {20, 45, 257},
      {21, 16, 385},
      {23, 300, 515},
      {22, 33, 900},
      {301, 45, 601},
      {2 * PackedGemm.NC + 5, 19, 70}
    };
    VectorKernels oneThread = new VectorKernels(1);
    for (int[] s : shapes) {
      int n = s[0];
      int rows = s[1];
      int cols = s[2];
      float[] w = toBf16(random(rows * cols));
      float[] x = random(3 + n * cols);
      var packed = fast.pack(new Weight.F32(w, rows, cols));
      float[] all = new float[1 + n * rows];
      float[] serial = new float[1 + n * rows];
      fast.matmul(packed, x, 3, n, all, 1);
      oneThread.matmul(packed, x, 3, n, serial, 1);
      assertArrayEquals(all, serial, "two threads against one, " + java.util.Arrays.toString(s));
      float[] one = new float[rows];
      for (int t = 0; t < n; t++) {
        fast.matmul(packed, x, 3 + t * cols, 1, one, 0);
        assertArrayEquals(
            one,
            java.util.Arrays.copyOfRange(all, 1 + t * rows, 1 + (t + 1) * rows),
            "row " + t + " of " + java.util.Arrays.toString(s));
      }
    }
  }
}
