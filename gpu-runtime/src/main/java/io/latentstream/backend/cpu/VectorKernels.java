package io.latentstream.backend.cpu;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.Matrix;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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

  /** Below this many multiply-adds a thread handoff (microseconds) costs more than it saves. */
  private static final long PARALLEL_WORK = 1L << 16;

  /** Set while a thread runs a chunk: nested calls then stay on it instead of re-forking. */
  private static final ThreadLocal<boolean[]> IN_CHUNK =
      ThreadLocal.withInitial(() -> new boolean[1]);

  private final ForkJoinPool pool;
  private final int threads;

  public VectorKernels(int threads) {
    this.threads = Math.max(1, threads);
    this.pool = this.threads > 1 ? new ForkJoinPool(this.threads - 1) : null;
  }

  /** One worker per available core. */
  public VectorKernels() {
    this(Runtime.getRuntime().availableProcessors());
  }

  /**
   * Weights packed for {@link #matmul}: blocks of BLOCK output rows, each stored column by column
   * ([block][col][BLOCK]), rows past the end zero-padded. A block's columns are then one contiguous
   * stream, and each output lane accumulates its own sum: no horizontal reduction.
   *
   * <p>Weights that are exactly bf16 (every bf16 checkpoint) are kept as bf16, halving the bytes
   * streamed per token (decoding is memory-bound): {@code bf16[block][col][L]} ints, each holding
   * row j's bits in its low half and row j+L's in its high half, widened by one shift or one mask.
   * Others (dequantized fp8) stay fp32 in {@code f32}. Widening is exact, so both give the same
   * numbers as fp32 weights.
   */
  record Packed(float[] f32, int[] bf16, int rows, int cols) implements Matrix {}

  private static final int BLOCK = 2 * L;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;

  @Override
  public Matrix pack(float[] w, int rows, int cols) {
    int blocks = (rows + BLOCK - 1) / BLOCK;
    boolean bf16 = true;
    for (float v : w) {
      bf16 &= (Float.floatToRawIntBits(v) & 0xffff) == 0;
    }
    float[] f = bf16 ? null : new float[blocks * cols * BLOCK];
    int[] h = bf16 ? new int[blocks * cols * L] : null;
    for (int r = 0; r < rows; r++) {
      int b = r / BLOCK;
      int j = r % BLOCK;
      for (int c = 0; c < cols; c++) {
        int bits = Float.floatToRawIntBits(w[r * cols + c]);
        if (bf16) {
          int at = (b * cols + c) * L + j % L;
          h[at] |= j < L ? bits >>> 16 : bits & 0xffff0000;
        } else {
          f[(b * cols + c) * BLOCK + j] = w[r * cols + c];
        }
      }
    }
    return new Packed(f, h, rows, cols);
  }

  /** Rows [0, L) of a block's column o (in units of columns). */
  private static FloatVector low(Packed w, int col) {
    return w.bf16() != null
        ? IntVector.fromArray(I, w.bf16(), col * L)
            .lanewise(VectorOperators.LSHL, 16)
            .reinterpretAsFloats()
        : FloatVector.fromArray(S, w.f32(), col * BLOCK);
  }

  /** Rows [L, BLOCK) of a block's column. */
  private static FloatVector high(Packed w, int col) {
    return w.bf16() != null
        ? IntVector.fromArray(I, w.bf16(), col * L)
            .lanewise(VectorOperators.AND, 0xffff0000)
            .reinterpretAsFloats()
        : FloatVector.fromArray(S, w.f32(), col * BLOCK + L);
  }

  /**
   * Outer-product form: for each column i, each output lane does acc = fma(w[r,i], x[t,i], acc), i
   * ascending. Blocking four activation rows together or not runs exactly that per lane, so a row's
   * outputs never depend on n or on the thread split.
   */
  @Override
  public void matmul(Matrix m, float[] x, int xOff, int n, float[] y, int yOff) {
    Packed w = (Packed) m;
    int blocks = (w.rows() + BLOCK - 1) / BLOCK;
    long work = (long) w.rows() * w.cols() * n;
    int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, blocks);
    splitRun(
        chunks,
        c -> {
          int b0 = (int) ((long) blocks * c / chunks);
          int b1 = (int) ((long) blocks * (c + 1) / chunks);
          for (int b = b0; b < b1; b++) {
            int t = 0;
            for (; t + 4 <= n; t += 4) {
              block4(w, b, x, xOff + t * w.cols(), y, yOff + t * w.rows());
            }
            for (; t < n; t++) {
              block1(w, b, x, xOff + t * w.cols(), y, yOff + t * w.rows());
            }
          }
        });
  }

  private static void block1(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = a0;
    for (int i = 0; i < cols; i++) {
      FloatVector xi = FloatVector.broadcast(S, x[xOff + i]);
      a0 = low(w, base + i).fma(xi, a0);
      a1 = high(w, base + i).fma(xi, a1);
    }
    store(w, b, a0, a1, y, yOff);
  }

  private static void block4(Packed w, int b, float[] x, int xOff, float[] y, int yOff) {
    int cols = w.cols();
    int base = b * cols;
    FloatVector a00 = FloatVector.zero(S);
    FloatVector a01 = a00;
    FloatVector a10 = a00;
    FloatVector a11 = a00;
    FloatVector a20 = a00;
    FloatVector a21 = a00;
    FloatVector a30 = a00;
    FloatVector a31 = a00;
    for (int i = 0; i < cols; i++) {
      FloatVector w0 = low(w, base + i);
      FloatVector w1 = high(w, base + i);
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
    store(w, b, a00, a01, y, yOff);
    store(w, b, a10, a11, y, yOff + rows);
    store(w, b, a20, a21, y, yOff + 2 * rows);
    store(w, b, a30, a31, y, yOff + 3 * rows);
  }

  /** Writes a block's outputs for one activation row, dropping the zero-padded rows. */
  private static void store(Packed w, int b, FloatVector a0, FloatVector a1, float[] y, int yOff) {
    int r0 = b * BLOCK;
    int valid = Math.min(BLOCK, w.rows() - r0);
    if (valid == BLOCK) {
      a0.intoArray(y, yOff + r0);
      a1.intoArray(y, yOff + r0 + L);
    } else {
      for (int j = 0; j < valid; j++) {
        y[yOff + r0 + j] = j < L ? a0.lane(j) : a1.lane(j - L);
      }
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
  public void parallelFor(int n, IntConsumer body) {
    int chunks = Math.min(threads, n);
    splitRun(
        chunks,
        c -> {
          int i1 = (int) ((long) n * (c + 1) / chunks);
          for (int i = (int) ((long) n * c / chunks); i < i1; i++) {
            body.accept(i);
          }
        });
  }

  /** Runs chunk 0 on the caller, the others on the pool, and waits for all. */
  private void splitRun(int chunks, IntConsumer chunk) {
    boolean[] inChunk = IN_CHUNK.get();
    if (chunks <= 1 || pool == null || inChunk[0]) {
      for (int c = 0; c < chunks; c++) {
        chunk.accept(c);
      }
      return;
    }
    ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[chunks - 1];
    for (int c = 1; c < chunks; c++) {
      int cc = c;
      tasks[c - 1] =
          pool.submit(
              () -> {
                boolean[] flag = IN_CHUNK.get();
                flag[0] = true;
                try {
                  chunk.accept(cc);
                } finally {
                  flag[0] = false;
                }
              });
    }
    inChunk[0] = true;
    try {
      chunk.accept(0);
    } finally {
      inChunk[0] = false;
    }
    for (ForkJoinTask<?> t : tasks) {
      t.join();
    }
  }
}
