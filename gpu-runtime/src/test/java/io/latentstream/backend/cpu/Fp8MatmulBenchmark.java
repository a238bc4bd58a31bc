package io.latentstream.backend.cpu;

import io.latentstream.backend.Matrix;
import io.latentstream.weights.Weight;
import java.util.Arrays;
import java.util.Random;

/**
 * Batch-1 matmul over a set of weight matrices larger than the caches, visited round-robin as a
 * decode step visits MoE experts: packed bf16 against fp8, alternated, medians of the reps. Prints
 * weight GB/s and the fp8 / bf16 rate ratio (the decode tokens/s ratio when matmuls dominate).
 *
 * <p>Run after test-compile: {@code java --add-modules jdk.incubator.vector -cp
 * gpu-runtime/target/classes:gpu-runtime/target/test-classes
 * io.latentstream.backend.cpu.Fp8MatmulBenchmark [matrices rows cols threads reps]}.
 */
public final class Fp8MatmulBenchmark {
  private Fp8MatmulBenchmark() {}

  public static void main(String[] args) {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 128;
    int rows = args.length > 1 ? Integer.parseInt(args[1]) : 512;
    int cols = args.length > 2 ? Integer.parseInt(args[2]) : 1024;
    int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
    int reps = args.length > 4 ? Integer.parseInt(args[4]) : 15;
    VectorKernels k = new VectorKernels(threads);
    Random rnd = new Random(1);
    Matrix[] bf16 = new Matrix[count];
    Matrix[] fp8 = new Matrix[count];
    int sr = (rows + 127) / 128;
    int sc = (cols + 127) / 128;
    for (int m = 0; m < count; m++) {
      short[] bits = new short[rows * cols];
      byte[] q = new byte[rows * cols];
      for (int i = 0; i < bits.length; i++) {
        float g = (float) rnd.nextGaussian() * 0.02f;
        bits[i] = (short) (Float.floatToRawIntBits(g) >>> 16);
        int b = (int) Math.round(rnd.nextGaussian() * 40) & 0xff;
        q[i] = (byte) ((b & 0x7f) == 0x7f ? 0 : b);
      }
      float[] s = new float[sr * sc];
      Arrays.fill(s, 1e-3f);
      bf16[m] = k.pack(new Weight.Bf16(bits, rows, cols));
      fp8[m] = k.pack(new Weight.Fp8(q, s, 128, rows, cols));
    }
    float[] x = new float[cols];
    for (int i = 0; i < cols; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    float[] y = new float[rows];
    String[] names = {"bf16", "fp8"};
    double[][] gbs = new double[2][reps];
    long params = (long) count * rows * cols;
    long[] bytes = {2 * params, params};
    for (int round = -5; round < reps; round++) {
      for (int v = 0; v < 2; v++) {
        Matrix[] set = v == 0 ? bf16 : fp8;
        int passes = 4;
        long t0 = System.nanoTime();
        for (int p = 0; p < passes; p++) {
          for (Matrix m : set) {
            k.matmul(m, x, 0, 1, y, 0);
          }
        }
        long ns = System.nanoTime() - t0;
        if (round >= 0) {
          gbs[v][round] = (double) bytes[v] * passes / ns;
        }
      }
    }
    System.out.printf(
        "%d matrices %dx%d, %d threads, batch 1, %d reps (medians)%n",
        count, rows, cols, threads, reps);
    double[] med = new double[2];
    for (int v = 0; v < 2; v++) {
      double[] g = gbs[v].clone();
      Arrays.sort(g);
      med[v] = g[reps / 2];
      System.out.printf(
          "%-24s %6.2f GB/s of weights (min %.2f, max %.2f), %6.1f us per matrix%n",
          names[v], med[v], g[0], g[reps - 1], (double) bytes[v] / count / med[v] / 1e3);
    }
    System.out.printf("rate ratio fp8/bf16 (matrices per second): %.2fx%n", 2 * med[1] / med[0]);
  }
}
