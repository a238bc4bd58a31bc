package io.latentstream.backend.cpu;

import io.latentstream.backend.cpu.VectorKernels.Packed;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Packed bf16 weights times many activation rows (a prefill's linear layers), cache-blocked. Every
 * output lane runs exactly {@link VectorKernels#matmul}'s sequence, acc = fma(w[r,i], x[t,i], acc)
 * for i ascending in fp32, so each result is bitwise the one its row gives alone; only the order in
 * which the lanes advance changes:
 *
 * <ul>
 *   <li>six activation rows share each pass over a block of 16 weight rows: twelve accumulators,
 *       twelve FMAs per column against one weight load and its two widenings (the remainder of the
 *       rows goes four, two, one at a time);
 *   <li>the columns are cut into tiles of about {@link #KC}: a tile's partial sums go to y and the
 *       next tile reloads them (fp32 stored and reloaded is exact), so one block's tile of weights
 *       stays in L1 while every activation row of the call passes over it;
 *   <li>the activation rows are cut into tiles of {@link #NC}, so the piece of x that one column
 *       tile reads stays in L2 across all the weight blocks.
 * </ul>
 *
 * Threads split the weight blocks: {@link VectorKernels#matmul} runs {@link #multiply} for each
 * thread's share.
 *
 * <p>On hot weights this runs at about 100 GFLOP/s per core on the development VM (AMD EPYC, 115
 * GFLOP/s the most 256-bit FMAs can give there). Its CPU has AVX-512 at full rate (230 GFLOP/s),
 * but 512-bit kernels beside the 256-bit ones made C2 box vectors in both (the Vector API's shared
 * templates then see two shapes) and every kernel ran ~50x slower; widening all of them together is
 * the way to that factor of two.
 */
final class PackedGemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
  private static final int L = S.length();
  private static final int BLOCK = VectorKernels.BLOCK;
  private static final int HIGH_HALF = 0xffff0000;

  /** Columns per tile: 8 KiB of one block's packed weights, 6 KiB of six activation rows. */
  static final int KC = 256;

  /** Activation rows per tile (a multiple of six): NC x KC floats, 288 KiB, stay in L2. */
  static final int NC = 288;

  /** Per-thread sums of a partial last block, [NC][BLOCK]: the kernels store whole blocks. */
  private static final ThreadLocal<float[]> PARTIAL =
      ThreadLocal.withInitial(() -> new float[NC * BLOCK]);

  private PackedGemm() {}

  /**
   * y[yOff + t*rows + r] = dot(W[r, :], x[xOff + t*cols ...]) for t &lt; n and the rows r of blocks
   * [b0, b1).
   */
  static void multiply(Packed w, float[] x, int xOff, int n, float[] y, int yOff, int b0, int b1) {
    int cols = w.cols();
    int rows = w.rows();
    int[] p = w.bf16();
    int kTiles = Math.max(1, (cols + KC / 2) / KC);
    // Only the last block can lack rows; its sums go through a scratch of whole blocks, so that
    // no kernel needs a masked load or store.
    int whole = Math.min(b1, rows / BLOCK);
    float[] partial = whole < b1 ? PARTIAL.get() : null;
    for (int t0 = 0; t0 < n; t0 += NC) {
      int t1 = Math.min(n, t0 + NC);
      int xo = xOff + t0 * cols;
      for (int kt = 0; kt < kTiles; kt++) {
        int k0 = (int) ((long) cols * kt / kTiles);
        int k1 = (int) ((long) cols * (kt + 1) / kTiles);
        boolean first = kt == 0;
        for (int b = b0; b < whole; b++) {
          tile(
              p,
              b * cols,
              k0,
              k1,
              x,
              xo,
              cols,
              t1 - t0,
              y,
              yOff + t0 * rows + b * BLOCK,
              rows,
              first);
        }
        if (partial != null) {
          tile(p, whole * cols, k0, k1, x, xo, cols, t1 - t0, partial, 0, BLOCK, first);
        }
      }
      if (partial != null) {
        for (int t = t0; t < t1; t++) {
          System.arraycopy(
              partial, (t - t0) * BLOCK, y, yOff + t * rows + whole * BLOCK, rows - whole * BLOCK);
        }
      }
    }
  }

  /**
   * n activation rows (x from xo, stride cols) by one block's columns [k0, k1) (the block's columns
   * from base), into y (from yo, stride ys): each accumulator starts at zero for the first tile,
   * else from y, and goes back to y.
   */
  private static void tile(
      int[] p,
      int base,
      int k0,
      int k1,
      float[] x,
      int xo,
      int cols,
      int n,
      float[] y,
      int yo,
      int ys,
      boolean first) {
    int t = 0;
    for (; t + 6 <= n; t += 6) {
      rows6(p, base, k0, k1, x, xo + t * cols, cols, y, yo + t * ys, ys, first);
    }
    for (; n - t >= 4; t += 4) {
      rows4(p, base, k0, k1, x, xo + t * cols, cols, y, yo + t * ys, ys, first);
    }
    for (; n - t >= 2; t += 2) {
      rows2(p, base, k0, k1, x, xo + t * cols, cols, y, yo + t * ys, ys, first);
    }
    if (t < n) {
      rows1(p, base, k0, k1, x, xo + t * cols, cols, y, yo + t * ys, ys, first);
    }
  }

  /** Six activation rows by one block's columns [k0, k1), as {@link #tile} describes. */
  private static void rows6(
      int[] p,
      int base,
      int k0,
      int k1,
      float[] x,
      int xo,
      int cols,
      float[] y,
      int yo,
      int ys,
      boolean first) {
    FloatVector a00;
    FloatVector a01;
    FloatVector a10;
    FloatVector a11;
    FloatVector a20;
    FloatVector a21;
    FloatVector a30;
    FloatVector a31;
    FloatVector a40;
    FloatVector a41;
    FloatVector a50;
    FloatVector a51;
    if (first) {
      a00 = FloatVector.zero(S);
      a01 = a00;
      a10 = a00;
      a11 = a00;
      a20 = a00;
      a21 = a00;
      a30 = a00;
      a31 = a00;
      a40 = a00;
      a41 = a00;
      a50 = a00;
      a51 = a00;
    } else {
      a00 = FloatVector.fromArray(S, y, yo);
      a01 = FloatVector.fromArray(S, y, yo + L);
      a10 = FloatVector.fromArray(S, y, yo + ys);
      a11 = FloatVector.fromArray(S, y, yo + ys + L);
      a20 = FloatVector.fromArray(S, y, yo + 2 * ys);
      a21 = FloatVector.fromArray(S, y, yo + 2 * ys + L);
      a30 = FloatVector.fromArray(S, y, yo + 3 * ys);
      a31 = FloatVector.fromArray(S, y, yo + 3 * ys + L);
      a40 = FloatVector.fromArray(S, y, yo + 4 * ys);
      a41 = FloatVector.fromArray(S, y, yo + 4 * ys + L);
      a50 = FloatVector.fromArray(S, y, yo + 5 * ys);
      a51 = FloatVector.fromArray(S, y, yo + 5 * ys + L);
    }
    for (int i = k0; i < k1; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xo + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
      FloatVector x1 = FloatVector.broadcast(S, x[xo + cols + i]);
      a10 = w0.fma(x1, a10);
      a11 = w1.fma(x1, a11);
      FloatVector x2 = FloatVector.broadcast(S, x[xo + 2 * cols + i]);
      a20 = w0.fma(x2, a20);
      a21 = w1.fma(x2, a21);
      FloatVector x3 = FloatVector.broadcast(S, x[xo + 3 * cols + i]);
      a30 = w0.fma(x3, a30);
      a31 = w1.fma(x3, a31);
      FloatVector x4 = FloatVector.broadcast(S, x[xo + 4 * cols + i]);
      a40 = w0.fma(x4, a40);
      a41 = w1.fma(x4, a41);
      FloatVector x5 = FloatVector.broadcast(S, x[xo + 5 * cols + i]);
      a50 = w0.fma(x5, a50);
      a51 = w1.fma(x5, a51);
    }
    a00.intoArray(y, yo);
    a01.intoArray(y, yo + L);
    a10.intoArray(y, yo + ys);
    a11.intoArray(y, yo + ys + L);
    a20.intoArray(y, yo + 2 * ys);
    a21.intoArray(y, yo + 2 * ys + L);
    a30.intoArray(y, yo + 3 * ys);
    a31.intoArray(y, yo + 3 * ys + L);
    a40.intoArray(y, yo + 4 * ys);
    a41.intoArray(y, yo + 4 * ys + L);
    a50.intoArray(y, yo + 5 * ys);
    a51.intoArray(y, yo + 5 * ys + L);
  }

  /** {@link #rows6} for 4 rows. */
  private static void rows4(
      int[] p,
      int base,
      int k0,
      int k1,
      float[] x,
      int xo,
      int cols,
      float[] y,
      int yo,
      int ys,
      boolean first) {
    FloatVector a00;
    FloatVector a01;
    FloatVector a10;
    FloatVector a11;
    FloatVector a20;
    FloatVector a21;
    FloatVector a30;
    FloatVector a31;
    if (first) {
      a00 = FloatVector.zero(S);
      a01 = a00;
      a10 = a00;
      a11 = a00;
      a20 = a00;
      a21 = a00;
      a30 = a00;
      a31 = a00;
    } else {
      a00 = FloatVector.fromArray(S, y, yo);
      a01 = FloatVector.fromArray(S, y, yo + L);
      a10 = FloatVector.fromArray(S, y, yo + ys);
      a11 = FloatVector.fromArray(S, y, yo + ys + L);
      a20 = FloatVector.fromArray(S, y, yo + 2 * ys);
      a21 = FloatVector.fromArray(S, y, yo + 2 * ys + L);
      a30 = FloatVector.fromArray(S, y, yo + 3 * ys);
      a31 = FloatVector.fromArray(S, y, yo + 3 * ys + L);
    }
    for (int i = k0; i < k1; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xo + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
      FloatVector x1 = FloatVector.broadcast(S, x[xo + cols + i]);
      a10 = w0.fma(x1, a10);
      a11 = w1.fma(x1, a11);
      FloatVector x2 = FloatVector.broadcast(S, x[xo + 2 * cols + i]);
      a20 = w0.fma(x2, a20);
      a21 = w1.fma(x2, a21);
      FloatVector x3 = FloatVector.broadcast(S, x[xo + 3 * cols + i]);
      a30 = w0.fma(x3, a30);
      a31 = w1.fma(x3, a31);
    }
    a00.intoArray(y, yo);
    a01.intoArray(y, yo + L);
    a10.intoArray(y, yo + ys);
    a11.intoArray(y, yo + ys + L);
    a20.intoArray(y, yo + 2 * ys);
    a21.intoArray(y, yo + 2 * ys + L);
    a30.intoArray(y, yo + 3 * ys);
    a31.intoArray(y, yo + 3 * ys + L);
  }

  /** {@link #rows6} for 2 rows. */
  private static void rows2(
      int[] p,
      int base,
      int k0,
      int k1,
      float[] x,
      int xo,
      int cols,
      float[] y,
      int yo,
      int ys,
      boolean first) {
    FloatVector a00;
    FloatVector a01;
    FloatVector a10;
    FloatVector a11;
    if (first) {
      a00 = FloatVector.zero(S);
      a01 = a00;
      a10 = a00;
      a11 = a00;
    } else {
      a00 = FloatVector.fromArray(S, y, yo);
      a01 = FloatVector.fromArray(S, y, yo + L);
      a10 = FloatVector.fromArray(S, y, yo + ys);
      a11 = FloatVector.fromArray(S, y, yo + ys + L);
    }
    for (int i = k0; i < k1; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xo + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
      FloatVector x1 = FloatVector.broadcast(S, x[xo + cols + i]);
      a10 = w0.fma(x1, a10);
      a11 = w1.fma(x1, a11);
    }
    a00.intoArray(y, yo);
    a01.intoArray(y, yo + L);
    a10.intoArray(y, yo + ys);
    a11.intoArray(y, yo + ys + L);
  }

  /** {@link #rows6} for 1 row. */
  private static void rows1(
      int[] p,
      int base,
      int k0,
      int k1,
      float[] x,
      int xo,
      int cols,
      float[] y,
      int yo,
      int ys,
      boolean first) {
    FloatVector a00;
    FloatVector a01;
    if (first) {
      a00 = FloatVector.zero(S);
      a01 = a00;
    } else {
      a00 = FloatVector.fromArray(S, y, yo);
      a01 = FloatVector.fromArray(S, y, yo + L);
    }
    for (int i = k0; i < k1; i++) {
      IntVector column = IntVector.fromArray(I, p, (base + i) * L);
      FloatVector w0 = column.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
      FloatVector w1 = column.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
      FloatVector x0 = FloatVector.broadcast(S, x[xo + i]);
      a00 = w0.fma(x0, a00);
      a01 = w1.fma(x0, a01);
    }
    a00.intoArray(y, yo);
    a01.intoArray(y, yo + L);
  }
}
