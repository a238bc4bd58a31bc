package io.latentstream.backend.cpu;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Kernels on the Vector API, parallel over output rows. One dot-product template everywhere: 8 fp32
 * lanes accumulated with FMA, the lanes summed in a fixed order, a scalar tail. The fixed 256-bit
 * species (not SPECIES_PREFERRED) and the explicit lane sum (not reduceLanes, whose order differs
 * between the intrinsic and the interpreter) make every result independent of the batch, of JIT
 * state, and of the machine's vector width.
 */
public final class VectorKernels implements Kernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
  private static final int L = S.length();

  /**
   * Below this many multiply-adds (~2.5 us on one core) handing half of a kernel to the other core
   * costs more than it saves. The handoff is a spinning {@link Crew} helper: with the parked
   * ForkJoin workers used before, a fork and join took ~40 us on the development VM and the
   * threshold had to be 2^22, which kept every batch-1 decode step on one core.
   */
  private static final long PARALLEL_WORK = 1L << 16;

  /** Set while a thread runs a chunk: nested calls then stay on it instead of splitting again. */
  private static final ThreadLocal<boolean[]> IN_CHUNK =
      ThreadLocal.withInitial(() -> new boolean[1]);

  private final Crew crew;
  private final int threads;

  public VectorKernels(int threads) {
    this.crew = Crew.shared();
    this.threads = Math.max(1, Math.min(threads, crew.size()));
  }

  /** One thread per available core. */
  public VectorKernels() {
    this(Runtime.getRuntime().availableProcessors());
  }

  /**
   * bf16 weights packed for {@link #matmul}: blocks of BLOCK output rows stored column by column,
   * {@code [block][col][L]} ints, each holding row j's bf16 bits in its low half and row j+L's in
   * its high half (rows past the end zero). A block's columns are one contiguous stream, widened to
   * fp32 exactly by one shift or one mask, and each output lane accumulates its own sum: no
   * horizontal reduction, and half the bytes of fp32 (decoding is memory-bound).
   */
  record Packed(int[] bf16, int rows, int cols) implements Matrix {}

  /**
   * fp32 weights not exactly representable in bf16 (or fp8 whose scale blocks are not whole lane
   * blocks of {@link Fp8Matmul}, dequantized): row-major fp32, dot products.
   */
  record RowMajor(float[] w, int rows, int cols) implements Matrix {}

  static final int BLOCK = 2 * L;

  /**
   * From this many activation rows on (a prefill, a routed expert's share of one), {@link
   * PackedGemm}'s cache-blocked kernel runs packed matmuls: the same per-lane sums, six rows to a
   * pass instead of four. Below it the passes of four, two and one rows do as well.
   */
  static final int GEMM_ROWS = 16;

  private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
  private static final int HIGH_HALF = 0xffff0000;

  /**
   * bf16 bits go straight into {@link Packed}, fp8 into {@link Fp8Matmul}'s layout (dequantized to
   * fp32 when its scale blocks are not whole lane blocks), fp32 into {@link Packed} when every
   * value is bf16-exact, else {@link RowMajor}.
   */
  @Override
  public Matrix pack(Weight w) {
    if (w instanceof Weight.Fp8 q && Fp8Matmul.fits(q)) {
      return Fp8Matmul.pack(q);
    }
    if (w instanceof Weight.Bf16 b) {
      return packBf16(b.bits(), b.rows(), b.cols());
    }
    return pack(w instanceof Weight.F32 f ? f.values() : w.toFloats(), w.rows(), w.cols());
  }

  private static Packed packBf16(short[] bits, int rows, int cols) {
    int[] h = new int[(rows + BLOCK - 1) / BLOCK * cols * L];
    for (int r = 0; r < rows; r++) {
      int j = r % BLOCK;
      int base = r / BLOCK * cols * L + j % L;
      int shift = j < L ? 0 : 16;
      for (int c = 0; c < cols; c++) {
        h[base + c * L] |= (bits[r * cols + c] & 0xffff) << shift;
      }
    }
    return new Packed(h, rows, cols);
  }

  private Matrix pack(float[] w, int rows, int cols) {
    for (float v : w) {
      if ((Float.floatToRawIntBits(v) & 0xffff) != 0) {
        return new RowMajor(w, rows, cols);
      }
    }
    int blocks = (rows + BLOCK - 1) / BLOCK;
    int[] h = new int[blocks * cols * L];
    for (int r = 0; r < rows; r++) {
      int b = r / BLOCK;
      int j = r % BLOCK;
      for (int c = 0; c < cols; c++) {
        int bits = Float.floatToRawIntBits(w[r * cols + c]);
        h[(b * cols + c) * L + j % L] |= j < L ? bits >>> 16 : bits & 0xffff0000;
      }
    }
    return new Packed(h, rows, cols);
  }

  /**
   * Row r of either layout does not move when rows after it are dropped: row-major rows are
   * contiguous, and a packed block of BLOCK rows keeps its place (the last, partial block reads the
   * dropped rows' weights and {@link #store} discards them).
   */
  @Override
  public Matrix firstRows(Matrix m, int rows) {
    Kernels.checkFirstRows(m, rows);
    if (m instanceof Fp8Matmul.Packed q) {
      return Fp8Matmul.firstRows(q, rows);
    }
    return m instanceof RowMajor w
        ? new RowMajor(w.w(), rows, w.cols())
        : new Packed(((Packed) m).bf16(), rows, m.cols());
  }

  /**
   * Packed weights use the outer-product form: for each column i, each output lane does acc =
   * fma(w[r,i], x[t,i], acc), i ascending. Blocking four activation rows together or not runs
   * exactly that per lane, so a row's outputs never depend on n or on the thread split. Row-major
   * weights take one {@link #dot} per output, likewise independent of n.
   *
   * <p>The block methods keep every vector inside themselves (no helper takes or returns one): when
   * C2 inlines them into a large caller it may stop inlining small helpers
   * (NodeCountInliningCutoff), and a vector crossing a call that is not inlined is boxed on the
   * heap, which made decode steps several times slower in some JVM runs and not in others.
   */
  @Override
  public void matmul(Matrix m, float[] x, int xOff, int n, float[] y, int yOff) {
    int rows = m.rows();
    int cols = m.cols();
    long work = (long) rows * cols * n;
    if (m instanceof Fp8Matmul.Packed q) {
      int blocks = q.blocks();
      int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, blocks);
      splitRun(
          chunks,
          c ->
              Fp8Matmul.multiply(
                  q,
                  x,
                  xOff,
                  n,
                  y,
                  yOff,
                  (int) ((long) blocks * c / chunks),
                  (int) ((long) blocks * (c + 1) / chunks)));
      return;
    }
    if (m instanceof RowMajor w) {
      int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, rows);
      splitRun(
          chunks,
          c -> {
            for (int r = rows * c / chunks, r1 = rows * (c + 1) / chunks; r < r1; r++) {
              for (int t = 0; t < n; t++) {
                y[yOff + t * rows + r] = dot(w.w(), r * cols, x, xOff + t * cols, cols);
              }
            }
          });
      return;
    }
    Packed w = (Packed) m;
    int blocks = (rows + BLOCK - 1) / BLOCK;
    int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, blocks);
    splitRun(
        chunks,
        c -> {
          int b0 = (int) ((long) blocks * c / chunks);
          int b1 = (int) ((long) blocks * (c + 1) / chunks);
          if (n >= GEMM_ROWS) {
            PackedGemm.multiply(w, x, xOff, n, y, yOff, b0, b1);
            return;
          }
          int paired = n - n % 2;
          for (int b = b0; b < b1; b++) {
            int t = 0;
            for (; t + 4 <= paired; t += 4) {
              block4(w, b, x, xOff + t * cols, y, yOff + t * rows);
            }
            // Two rows (an MTP verify step) share one pass over the weights as well.
            for (; t < paired; t += 2) {
              block2(w, b, x, xOff + t * cols, y, yOff + t * rows);
            }
          }
          if (paired < n) {
            // A lone row (decoding) takes two blocks per pass: four FMA chains instead of two.
            int b = b0;
            for (; b + 2 <= b1; b += 2) {
              block1Pair(w, b, x, xOff + paired * cols, y, yOff + paired * rows);
            }
            if (b < b1) {
              block1(w, b, x, xOff + paired * cols, y, yOff + paired * rows);
            }
          }
        });
  }

  private static void block1(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    int[] p = w.bf16();
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = a0;
    for (int i = 0; i < cols; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector xi = FloatVector.broadcast(S, x[xOff + i]);
      a0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xi, a0);
      a1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xi, a1);
    }
    int valid = w.rows() - b * BLOCK;
    int o = yOff + b * BLOCK;
    a0.intoArray(y, o, S.indexInRange(0, valid));
    a1.intoArray(y, o + L, S.indexInRange(L, valid));
  }

  /** Blocks b and b + 1 for one row: block1's per-lane sums, twice as many chains in flight. */
  private static void block1Pair(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    int next = (b + 1) * cols;
    int[] p = w.bf16();
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = a0;
    FloatVector c0 = a0;
    FloatVector c1 = a0;
    for (int i = 0; i < cols; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      IntVector nextColumn = IntVector.fromArray(I, p, (next + i) * L);
      FloatVector xi = FloatVector.broadcast(S, x[xOff + i]);
      a0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xi, a0);
      a1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xi, a1);
      c0 = nextColumn.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xi, c0);
      c1 = nextColumn.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xi, c1);
    }
    int valid = w.rows() - b * BLOCK;
    int o = yOff + b * BLOCK;
    a0.intoArray(y, o, S.indexInRange(0, valid));
    a1.intoArray(y, o + L, S.indexInRange(L, valid));
    c0.intoArray(y, o + BLOCK, S.indexInRange(BLOCK, valid));
    c1.intoArray(y, o + BLOCK + L, S.indexInRange(BLOCK + L, valid));
  }

  private static void block2(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    int[] p = w.bf16();
    FloatVector a00 = FloatVector.zero(S);
    FloatVector a01 = a00;
    FloatVector a10 = a00;
    FloatVector a11 = a00;
    for (int i = 0; i < cols; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xOff + i]);
      FloatVector x1 = FloatVector.broadcast(S, x[xOff + cols + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
      a10 = w0.fma(x1, a10);
      a11 = w1.fma(x1, a11);
    }
    int valid = w.rows() - b * BLOCK;
    VectorMask<Float> m0 = S.indexInRange(0, valid);
    VectorMask<Float> m1 = S.indexInRange(L, valid);
    int o = yOff + b * BLOCK;
    a00.intoArray(y, o, m0);
    a01.intoArray(y, o + L, m1);
    a10.intoArray(y, o + w.rows(), m0);
    a11.intoArray(y, o + w.rows() + L, m1);
  }

  private static void block4(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    int[] p = w.bf16();
    FloatVector a00 = FloatVector.zero(S);
    FloatVector a01 = a00;
    FloatVector a10 = a00;
    FloatVector a11 = a00;
    FloatVector a20 = a00;
    FloatVector a21 = a00;
    FloatVector a30 = a00;
    FloatVector a31 = a00;
    for (int i = 0; i < cols; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xOff + i]);
      FloatVector x1 = FloatVector.broadcast(S, x[xOff + cols + i]);
      FloatVector x2 = FloatVector.broadcast(S, x[xOff + 2 * cols + i]);
      FloatVector x3 = FloatVector.broadcast(S, x[xOff + 3 * cols + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
      a10 = w0.fma(x1, a10);
      a11 = w1.fma(x1, a11);
      a20 = w0.fma(x2, a20);
      a21 = w1.fma(x2, a21);
      a30 = w0.fma(x3, a30);
      a31 = w1.fma(x3, a31);
    }
    int rows = w.rows();
    int valid = rows - b * BLOCK;
    VectorMask<Float> m0 = S.indexInRange(0, valid);
    VectorMask<Float> m1 = S.indexInRange(L, valid);
    int o = yOff + b * BLOCK;
    a00.intoArray(y, o, m0);
    a01.intoArray(y, o + L, m1);
    a10.intoArray(y, o + rows, m0);
    a11.intoArray(y, o + rows + L, m1);
    a20.intoArray(y, o + 2 * rows, m0);
    a21.intoArray(y, o + 2 * rows + L, m1);
    a30.intoArray(y, o + 3 * rows, m0);
    a31.intoArray(y, o + 3 * rows + L, m1);
  }

  /**
   * Independent FMA chains per pass hide the FMA latency: four rows of a by two vectors of columns
   * (eight chains: two FMA units of four cycles' latency), then by one, or (fewer than four rows
   * left) one row by four vectors of columns. Every lane runs acc = fma(m[d, j], a[t, d], acc) for
   * d ascending in every path, the scalar tail included, so the grouping never changes a result.
   */
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
    int vecWidth = width - width % L;
    int t = 0;
    for (; t + 4 <= n; t += 4) {
      int a0 = aOff + t * aStride;
      int j = 0;
      // Two vectors of columns where they fit: eight chains, as many as the FMA units can pipeline.
      for (; j + 2 * L <= vecWidth; j += 2 * L) {
        FloatVector c0 = FloatVector.zero(S);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        FloatVector e0 = c0;
        FloatVector e1 = c0;
        FloatVector e2 = c0;
        FloatVector e3 = c0;
        for (int d = 0; d < len; d++) {
          int o = mOff + d * mStride + j;
          FloatVector md = FloatVector.fromArray(S, m, o);
          FloatVector me = FloatVector.fromArray(S, m, o + L);
          FloatVector b0 = FloatVector.broadcast(S, a[a0 + d]);
          c0 = md.fma(b0, c0);
          e0 = me.fma(b0, e0);
          FloatVector b1 = FloatVector.broadcast(S, a[a0 + aStride + d]);
          c1 = md.fma(b1, c1);
          e1 = me.fma(b1, e1);
          FloatVector b2 = FloatVector.broadcast(S, a[a0 + 2 * aStride + d]);
          c2 = md.fma(b2, c2);
          e2 = me.fma(b2, e2);
          FloatVector b3 = FloatVector.broadcast(S, a[a0 + 3 * aStride + d]);
          c3 = md.fma(b3, c3);
          e3 = me.fma(b3, e3);
        }
        int yo = yOff + t * yStride + j;
        c0.intoArray(y, yo);
        e0.intoArray(y, yo + L);
        c1.intoArray(y, yo + yStride);
        e1.intoArray(y, yo + yStride + L);
        c2.intoArray(y, yo + 2 * yStride);
        e2.intoArray(y, yo + 2 * yStride + L);
        c3.intoArray(y, yo + 3 * yStride);
        e3.intoArray(y, yo + 3 * yStride + L);
      }
      for (; j < vecWidth; j += L) {
        FloatVector c0 = FloatVector.zero(S);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int d = 0; d < len; d++) {
          FloatVector md = FloatVector.fromArray(S, m, mOff + d * mStride + j);
          c0 = md.fma(FloatVector.broadcast(S, a[a0 + d]), c0);
          c1 = md.fma(FloatVector.broadcast(S, a[a0 + aStride + d]), c1);
          c2 = md.fma(FloatVector.broadcast(S, a[a0 + 2 * aStride + d]), c2);
          c3 = md.fma(FloatVector.broadcast(S, a[a0 + 3 * aStride + d]), c3);
        }
        int yo = yOff + t * yStride + j;
        c0.intoArray(y, yo);
        c1.intoArray(y, yo + yStride);
        c2.intoArray(y, yo + 2 * yStride);
        c3.intoArray(y, yo + 3 * yStride);
      }
    }
    for (; t < n; t++) {
      int at = aOff + t * aStride;
      int yt = yOff + t * yStride;
      int j = 0;
      for (; j + 4 * L <= vecWidth; j += 4 * L) {
        FloatVector c0 = FloatVector.zero(S);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int d = 0; d < len; d++) {
          FloatVector ad = FloatVector.broadcast(S, a[at + d]);
          int o = mOff + d * mStride + j;
          c0 = FloatVector.fromArray(S, m, o).fma(ad, c0);
          c1 = FloatVector.fromArray(S, m, o + L).fma(ad, c1);
          c2 = FloatVector.fromArray(S, m, o + 2 * L).fma(ad, c2);
          c3 = FloatVector.fromArray(S, m, o + 3 * L).fma(ad, c3);
        }
        c0.intoArray(y, yt + j);
        c1.intoArray(y, yt + j + L);
        c2.intoArray(y, yt + j + 2 * L);
        c3.intoArray(y, yt + j + 3 * L);
      }
      for (; j < vecWidth; j += L) {
        FloatVector c0 = FloatVector.zero(S);
        for (int d = 0; d < len; d++) {
          c0 =
              FloatVector.fromArray(S, m, mOff + d * mStride + j)
                  .fma(FloatVector.broadcast(S, a[at + d]), c0);
        }
        c0.intoArray(y, yt + j);
      }
    }
    for (int tt = 0; tt < n; tt++) {
      for (int j = vecWidth; j < width; j++) {
        float c = 0;
        for (int d = 0; d < len; d++) {
          c = Math.fma(m[mOff + d * mStride + j], a[aOff + tt * aStride + d], c);
        }
        y[yOff + tt * yStride + j] = c;
      }
    }
  }

  /** Arguments below this flush to e^-87 (still a normal float) instead of underflowing. */
  private static final float EXP_MIN = -87f;

  private static final float LOG2E = 1.44269504f;
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;

  /** Adding 1.5 * 2^23 rounds a float to an integer in its low mantissa bits. */
  private static final float ROUND = 12582912f;

  /**
   * Cephes' expf: e^x = 2^n e^r with n = round(x log2 e), r = x - n ln 2 (in two parts), e^r by a
   * degree-6 polynomial, 2^n built in the exponent bits. Only lanewise arithmetic, so the
   * interpreter and the JIT agree bitwise; one vector path for the whole array would need masks, so
   * the tail runs the same steps on one-element arithmetic.
   */
  @Override
  public void exp(float[] x, int off, int len, float shift) {
    int i = off;
    int end = off + len;
    FloatVector log2e = FloatVector.broadcast(S, LOG2E);
    FloatVector round = FloatVector.broadcast(S, ROUND);
    FloatVector ln2Hi = FloatVector.broadcast(S, -LN2_HI);
    FloatVector ln2Lo = FloatVector.broadcast(S, -LN2_LO);
    FloatVector c6 = FloatVector.broadcast(S, 1.9875691500e-4f);
    FloatVector c5 = FloatVector.broadcast(S, 1.3981999507e-3f);
    FloatVector c4 = FloatVector.broadcast(S, 8.3334519073e-3f);
    FloatVector c3 = FloatVector.broadcast(S, 4.1665795894e-2f);
    FloatVector c2 = FloatVector.broadcast(S, 1.6666665459e-1f);
    FloatVector c1 = FloatVector.broadcast(S, 5.0000001201e-1f);
    for (; i + L <= end; i += L) {
      FloatVector v = FloatVector.fromArray(S, x, i).sub(shift).max(EXP_MIN);
      FloatVector t = v.fma(log2e, round);
      FloatVector n = t.sub(ROUND);
      FloatVector r = n.fma(ln2Hi, v);
      r = n.fma(ln2Lo, r);
      FloatVector p = r.fma(c6, c5);
      p = p.fma(r, c4);
      p = p.fma(r, c3);
      p = p.fma(r, c2);
      p = p.fma(r, c1);
      p = p.mul(r).fma(r, r).add(1f);
      IntVector bits =
          t.reinterpretAsInts()
              .sub(Float.floatToRawIntBits(ROUND) - 127)
              .lanewise(VectorOperators.LSHL, 23);
      p.mul(bits.reinterpretAsFloats()).intoArray(x, i);
    }
    for (; i < end; i++) {
      x[i] = expScalar(x[i] - shift);
    }
  }

  /** The vector steps above on one float. */
  private static float expScalar(float a) {
    float v = Math.max(a, EXP_MIN);
    float t = Math.fma(v, LOG2E, ROUND);
    float n = t - ROUND;
    float r = Math.fma(n, -LN2_HI, v);
    r = Math.fma(n, -LN2_LO, r);
    float p = Math.fma(r, 1.9875691500e-4f, 1.3981999507e-3f);
    p = Math.fma(p, r, 8.3334519073e-3f);
    p = Math.fma(p, r, 4.1665795894e-2f);
    p = Math.fma(p, r, 1.6666665459e-1f);
    p = Math.fma(p, r, 5.0000001201e-1f);
    p = Math.fma(p * r, r, r) + 1f;
    int bits = (Float.floatToRawIntBits(t) - (Float.floatToRawIntBits(ROUND) - 127)) << 23;
    return p * Float.intBitsToFloat(bits);
  }

  /** Per-thread e^-|g| of {@link #swiglu}, grown as needed. */
  private static final ThreadLocal<float[][]> SWIGLU_SCRATCH =
      ThreadLocal.withInitial(() -> new float[][] {new float[0]});

  /** e^-|v| by {@link #exp} into a scratch row, then v * sigmoid(v) * u lanewise. */
  @Override
  public void swiglu(float[] g, float[] u, int off, int len) {
    float[][] holder = SWIGLU_SCRATCH.get();
    if (holder[0].length < len) {
      holder[0] = new float[len];
    }
    float[] e = holder[0];
    for (int i = 0; i < len; i++) {
      e[i] = -Math.abs(g[off + i]);
    }
    exp(e, 0, len, 0f);
    FloatVector one = FloatVector.broadcast(S, 1f);
    int i = 0;
    int bound = len - len % L;
    for (; i < bound; i += L) {
      FloatVector v = FloatVector.fromArray(S, g, off + i);
      FloatVector ei = FloatVector.fromArray(S, e, i);
      FloatVector onePlus = ei.add(1f);
      // sigmoid(v) = 1 / (1 + e^-v) for v >= 0, e^v / (1 + e^v) below.
      FloatVector sigmoid =
          ei.div(onePlus).blend(one.div(onePlus), v.compare(VectorOperators.GE, 0f));
      v.mul(sigmoid).mul(FloatVector.fromArray(S, u, off + i)).intoArray(g, off + i);
    }
    for (; i < len; i++) {
      float v = g[off + i];
      float sigmoid = v >= 0 ? 1 / (1 + e[i]) : e[i] / (1 + e[i]);
      g[off + i] = v * sigmoid * u[off + i];
    }
  }

  @Override
  public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
    FloatVector acc = FloatVector.zero(S);
    int i = 0;
    int bound = len - len % L;
    for (; i < bound; i += L) {
      acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
    }
    float s = sumLanes(acc);
    for (; i < len; i++) {
      s = Math.fma(a[aOff + i], b[bOff + i], s);
    }
    return s;
  }

  /** A fixed pairwise order over the 8 lanes. */
  private static float sumLanes(FloatVector v) {
    return ((v.lane(0) + v.lane(1)) + (v.lane(2) + v.lane(3)))
        + ((v.lane(4) + v.lane(5)) + (v.lane(6) + v.lane(7)));
  }

  @Override
  public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len) {
    FloatVector a = FloatVector.broadcast(S, alpha);
    int i = 0;
    int bound = len - len % L;
    for (; i < bound; i += L) {
      FloatVector.fromArray(S, x, xOff + i)
          .fma(a, FloatVector.fromArray(S, y, yOff + i))
          .intoArray(y, yOff + i);
    }
    for (; i < len; i++) {
      y[yOff + i] = Math.fma(alpha, x[xOff + i], y[yOff + i]);
    }
  }

  @Override
  public void parallelFor(int n, long work, IntConsumer body) {
    int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, n);
    // Strided, not contiguous: causal attention rows cost more the later they come, so
    // interleaving balances a prefill across threads.
    splitRun(
        chunks,
        c -> {
          for (int i = c; i < n; i += chunks) {
            body.accept(i);
          }
        });
  }

  /**
   * Runs chunk 0 on the caller and the others on the crew, and waits for all; inline, one after the
   * other, when nested in a chunk or when the crew is busy with another engine's kernels.
   */
  private void splitRun(int chunks, IntConsumer chunk) {
    boolean[] inChunk = IN_CHUNK.get();
    IntConsumer flagged =
        c -> {
          boolean[] flag = IN_CHUNK.get();
          boolean outer = flag[0];
          flag[0] = true;
          try {
            chunk.accept(c);
          } finally {
            flag[0] = outer;
          }
        };
    if (chunks > 1 && !inChunk[0] && crew.run(chunks, flagged)) {
      return;
    }
    for (int c = 0; c < chunks; c++) {
      chunk.accept(c);
    }
  }
}
