package io.latentstream.ops;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * This machine's memory bandwidth, measured on a buffer far above the last-level cache, on all the
 * given threads: read (a 256-bit vector sum of the whole buffer, what a decode step's weight stream
 * is) and copy (System.arraycopy of its first half onto its second, bytes read plus written).
 * Medians over passes, in GB/s (1e9 bytes).
 */
record MemoryBandwidth(double readGbS, double copyGbS, long bytes, int threads, int passes) {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;

  /** Keeps the sums alive, so that the JIT cannot drop the reads. */
  @SuppressWarnings("unused")
  private static volatile float sink;

  /** Work on elements [from, to) of the buffer. */
  private interface Slice {
    void run(int from, int to);
  }

  static MemoryBandwidth measure(long bytes, int threads, int passes) {
    int n = Math.toIntExact(bytes / Float.BYTES) / (2 * threads) * (2 * threads);
    float[] a = new float[n];
    // Touch every page first: the passes measure memory, not page faults.
    Arrays.fill(a, 1f);
    double[] read = new double[passes];
    double[] copy = new double[passes];
    int half = n / 2;
    for (int p = 0; p < passes; p++) {
      read[p] = (double) n * Float.BYTES / seconds(threads, n, (from, to) -> sum(a, from, to));
      copy[p] =
          2.0
              * half
              * Float.BYTES
              / seconds(
                  threads,
                  half,
                  (from, to) -> System.arraycopy(a, from, a, half + from, to - from));
    }
    return new MemoryBandwidth(
        BenchEngineCommand.median(read) / 1e9,
        BenchEngineCommand.median(copy) / 1e9,
        (long) n * Float.BYTES,
        threads,
        passes);
  }

  /** Wall seconds for threads to each run one contiguous slice of [0, n). */
  private static double seconds(int threads, int n, Slice slice) {
    Thread[] workers = new Thread[threads];
    int per = n / threads;
    for (int t = 0; t < threads; t++) {
      int from = t * per;
      int to = t == threads - 1 ? n : from + per;
      workers[t] = new Thread(() -> slice.run(from, to));
    }
    long t0 = System.nanoTime();
    for (Thread w : workers) {
      w.start();
    }
    for (Thread w : workers) {
      try {
        w.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while measuring memory bandwidth", e);
      }
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  /** Four independent accumulators, so that the adds keep up with memory. */
  private static void sum(float[] a, int from, int to) {
    FloatVector s0 = FloatVector.zero(S);
    FloatVector s1 = FloatVector.zero(S);
    FloatVector s2 = FloatVector.zero(S);
    FloatVector s3 = FloatVector.zero(S);
    int l = S.length();
    int i = from;
    for (; i + 4 * l <= to; i += 4 * l) {
      s0 = s0.add(FloatVector.fromArray(S, a, i));
      s1 = s1.add(FloatVector.fromArray(S, a, i + l));
      s2 = s2.add(FloatVector.fromArray(S, a, i + 2 * l));
      s3 = s3.add(FloatVector.fromArray(S, a, i + 3 * l));
    }
    float s = s0.add(s1).add(s2).add(s3).reduceLanes(VectorOperators.ADD);
    for (; i < to; i++) {
      s += a[i];
    }
    sink += s;
  }
}
