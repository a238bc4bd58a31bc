package io.latentstream.backend.cpu;

import io.latentstream.backend.Kernels;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
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

  @Override
  public void matmul(
      float[] w, int wOff, int rows, int cols, float[] x, int xOff, int n, float[] y, int yOff) {
    long work = (long) rows * cols * n;
    int chunks = work < PARALLEL_WORK ? 1 : Math.min(threads, rows);
    splitRun(
        chunks,
        c -> {
          int r0 = (int) ((long) rows * c / chunks);
          int r1 = (int) ((long) rows * (c + 1) / chunks);
          matmulRows(w, wOff, r0, r1, cols, x, xOff, n, y, yOff, rows);
        });
  }

  private void matmulRows(
      float[] w,
      int wOff,
      int r0,
      int r1,
      int cols,
      float[] x,
      int xOff,
      int n,
      float[] y,
      int yOff,
      int rows) {
    // Four activation rows per pass reuse each loaded weight vector; dot4 does exactly the
    // arithmetic of four dot calls, so grouping never changes a result.
    for (int r = r0; r < r1; r++) {
      int wr = wOff + r * cols;
      int t = 0;
      for (; t + 4 <= n; t += 4) {
        dot4(w, wr, x, xOff + t * cols, cols, y, yOff + t * rows + r, rows);
      }
      for (; t < n; t++) {
        y[yOff + t * rows + r] = dot(w, wr, x, xOff + t * cols, cols);
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

  /** Four dots of one weight row against four activation rows (stride cols), results stride ys. */
  private static void dot4(
      float[] w, int wOff, float[] x, int xOff, int cols, float[] y, int yOff, int ys) {
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = a0;
    FloatVector a2 = a0;
    FloatVector a3 = a0;
    int i = 0;
    int bound = cols - cols % L;
    for (; i < bound; i += L) {
      FloatVector wv = FloatVector.fromArray(S, w, wOff + i);
      a0 = wv.fma(FloatVector.fromArray(S, x, xOff + i), a0);
      a1 = wv.fma(FloatVector.fromArray(S, x, xOff + cols + i), a1);
      a2 = wv.fma(FloatVector.fromArray(S, x, xOff + 2 * cols + i), a2);
      a3 = wv.fma(FloatVector.fromArray(S, x, xOff + 3 * cols + i), a3);
    }
    float s0 = sumLanes(a0);
    float s1 = sumLanes(a1);
    float s2 = sumLanes(a2);
    float s3 = sumLanes(a3);
    for (; i < cols; i++) {
      float wi = w[wOff + i];
      s0 = Math.fma(wi, x[xOff + i], s0);
      s1 = Math.fma(wi, x[xOff + cols + i], s1);
      s2 = Math.fma(wi, x[xOff + 2 * cols + i], s2);
      s3 = Math.fma(wi, x[xOff + 3 * cols + i], s3);
    }
    y[yOff] = s0;
    y[yOff + ys] = s1;
    y[yOff + 2 * ys] = s2;
    y[yOff + 3 * ys] = s3;
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
