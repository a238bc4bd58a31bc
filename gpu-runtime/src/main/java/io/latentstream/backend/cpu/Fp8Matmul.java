package io.latentstream.backend.cpu;

import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorKernels}' matmul by fp8 e4m3 weights with 128x128 block scales (DeepSeek-V3's),
 * multiplied as stored: one byte streamed per weight, widened to fp32 in registers.
 *
 * <p>Widening: the byte sign-extended to an int v, then {@code (v << 20) & 0x87F00000} is a float
 * with the byte's sign, its 4 exponent bits as the low bits of the float's exponent and its 3
 * mantissa bits on top of the float's mantissa: exactly the e4m3 value q times 2^-120, subnormals
 * included (they land on float subnormals, which Java computes exactly).
 *
 * <p>Scaling: per 128-column stretch of each row, not per weight. Each lane sums q 2^-120 * x 2^64
 * (x scaled by a power of two, exact) over the stretch's columns from zero with FMA, then adds the
 * partial sum times the stretch's scale s, with the 2^56 that remains folded in: acc = fma(p, s
 * 2^56, acc), or fma(p 2^56, s, acc) when s 2^56 overflows (s >= 2^72), the same real product so
 * the same bits. Scaling x by 2^64 keeps the products normal floats (a product q 2^-56 x is
 * subnormal only for |x| < 2^-61, where its absolute error is below 2^-150): the unscaled products
 * q 2^-120 x would be subnormal for ordinary activations, losing bits. Measured against scaling
 * each weight (w = q 2^-120 * s 2^120, then fma(w, x, acc), bitwise the dequantized weight), on 128
 * matrices 512x1024 round-robin at batch 1 on the 2-core development VM (load ~6, medians of
 * alternated runs): per-element 8.1 GB/s of fp8 weights, 1.62x bf16's matrices per second, below
 * the 1.7x the bytes allow; per-block 12.4 GB/s, 2.48x (one thread: 2.33x and 2.64x). The
 * per-weight multiply made the loop compute-bound.
 *
 * <p>Tolerance: the products are exact (q x 2^-56 has at most 4 + 24 significant bits) and only the
 * sums round, per stretch and once more for the scale, where the reference rounds each dequantized
 * weight fl(q s) and then its sum: both are fp32 sums of the same terms in different groupings,
 * within the reordering bound of a few times n 2^-24 of sum |w x|, which is what {@code
 * KernelsDifferentialTest} allows (1e-5 of it) and far inside the goldens' 1e-3 on logits. A unit x
 * still reads out exactly fl(q s): one term, rounded once.
 *
 * <p>Layout: blocks of {@link #ROWS} output rows stored column by column, {@code [block][col][32]}
 * bytes (rows past the end zero), as bf16's {@code Packed}: each lane accumulates its own output
 * row over the columns in ascending order, with no horizontal reduction, so an output's bits never
 * depend on n or on the thread split. 32 divides the 128-row scale blocks, so a lane block never
 * straddles two scale rows and each 128-column stretch has one scale for all its lanes.
 */
final class Fp8Matmul {
  private Fp8Matmul() {}

  private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
  private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;
  private static final int L = S.length();

  /** Output rows per lane block: four vectors of 8 lanes, four independent FMA chains. */
  static final int ROWS = 4 * L;

  private static final int E4M3_BITS = 0x87F00000;

  /** Activations are scaled by this (exactly) before multiplying by q 2^-120. */
  private static final float X_SCALE = 0x1p64f;

  /** What remains of 2^120 / X_SCALE, folded into the block scale. */
  private static final float S_SCALE = 0x1p56f;

  /** fp8 weights in lane blocks, with their block scales [ceil(rows0 / block), scaleCols]. */
  record Packed(byte[] q, float[] scales, int block, int scaleCols, int rows, int cols)
      implements Matrix {
    int blocks() {
      return (rows + ROWS - 1) / ROWS;
    }
  }

  /** Whether w's scale blocks are whole lane blocks, as this layout needs (128 is). */
  static boolean fits(Weight.Fp8 w) {
    return w.block() % ROWS == 0;
  }

  static Packed pack(Weight.Fp8 w) {
    int rows = w.rows();
    int cols = w.cols();
    byte[] v = w.values();
    byte[] q = new byte[Math.multiplyExact((rows + ROWS - 1) / ROWS * ROWS, cols)];
    for (int r = 0; r < rows; r++) {
      int base = r / ROWS * cols * ROWS + r % ROWS;
      for (int c = 0, i = r * cols; c < cols; c++, i++) {
        q[base + c * ROWS] = v[i];
      }
    }
    return new Packed(q, w.scales(), w.block(), w.scaleCols(), rows, cols);
  }

  /** The first rows of m: lane blocks keep their places, the last one's extra rows discarded. */
  static Packed firstRows(Packed m, int rows) {
    return new Packed(m.q(), m.scales(), m.block(), m.scaleCols(), rows, m.cols());
  }

  /** Per thread: the accumulators [n][ROWS] and one widened stretch [block][ROWS]. */
  private static final ThreadLocal<float[][]> SCRATCH =
      ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

  /**
   * y[yOff + t*rows + r] = dot(W[r, :], x[xOff + t*cols ...]) for the rows of lane blocks [b0, b1)
   * and t < n. One activation row widens the weights in registers; several widen each stretch of a
   * lane block once into scratch and run every row over it: the same steps per lane, so the same
   * bits.
   */
  static void multiply(Packed w, float[] x, int xOff, int n, float[] y, int yOff, int b0, int b1) {
    int rows = w.rows();
    int cols = w.cols();
    int block = w.block();
    float[][] scratch = SCRATCH.get();
    if (scratch[0].length < n * ROWS) {
      scratch[0] = new float[n * ROWS];
    }
    if (scratch[1].length < block * ROWS) {
      scratch[1] = new float[block * ROWS];
    }
    float[] acc = scratch[0];
    float[] wide = scratch[1];
    for (int b = b0; b < b1; b++) {
      java.util.Arrays.fill(acc, 0, n * ROWS, 0f);
      int scaleRow = b * ROWS / block * w.scaleCols();
      for (int cb = 0, c0 = 0; c0 < cols; cb++, c0 += block) {
        int len = Math.min(block, cols - c0);
        float s = w.scales()[scaleRow + cb];
        // acc += p * s * S_SCALE as fma(p * pre, scale, acc): both factors exact splits.
        boolean fits = Float.isFinite(s * S_SCALE);
        float pre = fits ? 1f : S_SCALE;
        float scale = fits ? s * S_SCALE : s;
        if (n == 1) {
          row1(w, b, c0, len, pre, scale, x, xOff, acc);
          continue;
        }
        widen(w, b, c0, len, wide);
        int t = 0;
        for (; t + 2 <= n; t += 2) {
          rowsOverWide(wide, len, pre, scale, x, xOff + t * cols + c0, cols, acc, t * ROWS);
        }
        if (t < n) {
          rowOverWide(wide, len, pre, scale, x, xOff + t * cols + c0, acc, t * ROWS);
        }
      }
      int valid = Math.min(ROWS, rows - b * ROWS);
      for (int t = 0; t < n; t++) {
        System.arraycopy(acc, t * ROWS, y, yOff + t * rows + b * ROWS, valid);
      }
    }
  }

  /** acc[0..32) += the lane block's stretch [c0, c0 + len) times x, widened in registers. */
  private static void row1(
      Packed w, int b, int c0, int len, float pre, float scale, float[] x, int xOff, float[] acc) {
    byte[] q = w.q();
    FloatVector p0 = FloatVector.zero(S);
    FloatVector p1 = p0;
    FloatVector p2 = p0;
    FloatVector p3 = p0;
    int o = (b * w.cols() + c0) * ROWS;
    for (int i = 0; i < len; i++, o += ROWS) {
      FloatVector xi = FloatVector.broadcast(S, x[xOff + c0 + i] * X_SCALE);
      p0 =
          ((IntVector) ByteVector.fromArray(B, q, o).castShape(I, 0))
              .lanewise(VectorOperators.LSHL, 20)
              .lanewise(VectorOperators.AND, E4M3_BITS)
              .reinterpretAsFloats()
              .fma(xi, p0);
      p1 =
          ((IntVector) ByteVector.fromArray(B, q, o + L).castShape(I, 0))
              .lanewise(VectorOperators.LSHL, 20)
              .lanewise(VectorOperators.AND, E4M3_BITS)
              .reinterpretAsFloats()
              .fma(xi, p1);
      p2 =
          ((IntVector) ByteVector.fromArray(B, q, o + 2 * L).castShape(I, 0))
              .lanewise(VectorOperators.LSHL, 20)
              .lanewise(VectorOperators.AND, E4M3_BITS)
              .reinterpretAsFloats()
              .fma(xi, p2);
      p3 =
          ((IntVector) ByteVector.fromArray(B, q, o + 3 * L).castShape(I, 0))
              .lanewise(VectorOperators.LSHL, 20)
              .lanewise(VectorOperators.AND, E4M3_BITS)
              .reinterpretAsFloats()
              .fma(xi, p3);
    }
    FloatVector sv = FloatVector.broadcast(S, scale);
    p0.mul(pre).fma(sv, FloatVector.fromArray(S, acc, 0)).intoArray(acc, 0);
    p1.mul(pre).fma(sv, FloatVector.fromArray(S, acc, L)).intoArray(acc, L);
    p2.mul(pre).fma(sv, FloatVector.fromArray(S, acc, 2 * L)).intoArray(acc, 2 * L);
    p3.mul(pre).fma(sv, FloatVector.fromArray(S, acc, 3 * L)).intoArray(acc, 3 * L);
  }

  /** wide[i][32] = the lane block's stretch [c0, c0 + len) widened as {@link #row1} does. */
  private static void widen(Packed w, int b, int c0, int len, float[] wide) {
    byte[] q = w.q();
    int o = (b * w.cols() + c0) * ROWS;
    for (int j = 0; j < len * ROWS; j += L) {
      ((IntVector) ByteVector.fromArray(B, q, o + j).castShape(I, 0))
          .lanewise(VectorOperators.LSHL, 20)
          .lanewise(VectorOperators.AND, E4M3_BITS)
          .reinterpretAsFloats()
          .intoArray(wide, j);
    }
  }

  /** {@link #row1}'s sums for one activation row over a widened stretch, acc at [at, at + 32). */
  private static void rowOverWide(
      float[] wide, int len, float pre, float scale, float[] x, int xOff, float[] acc, int at) {
    FloatVector p0 = FloatVector.zero(S);
    FloatVector p1 = p0;
    FloatVector p2 = p0;
    FloatVector p3 = p0;
    for (int i = 0, o = 0; i < len; i++, o += ROWS) {
      FloatVector xi = FloatVector.broadcast(S, x[xOff + i] * X_SCALE);
      p0 = FloatVector.fromArray(S, wide, o).fma(xi, p0);
      p1 = FloatVector.fromArray(S, wide, o + L).fma(xi, p1);
      p2 = FloatVector.fromArray(S, wide, o + 2 * L).fma(xi, p2);
      p3 = FloatVector.fromArray(S, wide, o + 3 * L).fma(xi, p3);
    }
    FloatVector sv = FloatVector.broadcast(S, scale);
    p0.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at)).intoArray(acc, at);
    p1.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + L)).intoArray(acc, at + L);
    p2.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + 2 * L)).intoArray(acc, at + 2 * L);
    p3.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + 3 * L)).intoArray(acc, at + 3 * L);
  }

  /** {@link #rowOverWide} for two activation rows (x stride cols) sharing each weight load. */
  private static void rowsOverWide(
      float[] wide,
      int len,
      float pre,
      float scale,
      float[] x,
      int xOff,
      int cols,
      float[] acc,
      int at) {
    FloatVector p0 = FloatVector.zero(S);
    FloatVector p1 = p0;
    FloatVector p2 = p0;
    FloatVector p3 = p0;
    FloatVector r0 = p0;
    FloatVector r1 = p0;
    FloatVector r2 = p0;
    FloatVector r3 = p0;
    for (int i = 0, o = 0; i < len; i++, o += ROWS) {
      FloatVector xa = FloatVector.broadcast(S, x[xOff + i] * X_SCALE);
      FloatVector xb = FloatVector.broadcast(S, x[xOff + cols + i] * X_SCALE);
      FloatVector w0 = FloatVector.fromArray(S, wide, o);
      FloatVector w1 = FloatVector.fromArray(S, wide, o + L);
      FloatVector w2 = FloatVector.fromArray(S, wide, o + 2 * L);
      FloatVector w3 = FloatVector.fromArray(S, wide, o + 3 * L);
      p0 = w0.fma(xa, p0);
      p1 = w1.fma(xa, p1);
      p2 = w2.fma(xa, p2);
      p3 = w3.fma(xa, p3);
      r0 = w0.fma(xb, r0);
      r1 = w1.fma(xb, r1);
      r2 = w2.fma(xb, r2);
      r3 = w3.fma(xb, r3);
    }
    FloatVector sv = FloatVector.broadcast(S, scale);
    int bt = at + ROWS;
    p0.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at)).intoArray(acc, at);
    p1.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + L)).intoArray(acc, at + L);
    p2.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + 2 * L)).intoArray(acc, at + 2 * L);
    p3.mul(pre).fma(sv, FloatVector.fromArray(S, acc, at + 3 * L)).intoArray(acc, at + 3 * L);
    r0.mul(pre).fma(sv, FloatVector.fromArray(S, acc, bt)).intoArray(acc, bt);
    r1.mul(pre).fma(sv, FloatVector.fromArray(S, acc, bt + L)).intoArray(acc, bt + L);
    r2.mul(pre).fma(sv, FloatVector.fromArray(S, acc, bt + 2 * L)).intoArray(acc, bt + 2 * L);
    r3.mul(pre).fma(sv, FloatVector.fromArray(S, acc, bt + 3 * L)).intoArray(acc, bt + 3 * L);
  }
}
