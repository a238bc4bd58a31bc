package io.latentstream.engine;

import java.util.Arrays;

/**
 * The final-norm hidden states of a step's new tokens, one row per token: the MTP module's input
 * ({@link MtpRequest}). An engine keeps them where it computed them. The CPU engine's are arrays;
 * the CUDA engine's stay on the device, valid until its next step, so that drafting right after a
 * step costs no copy of {@code rows x hidden_size} floats to the host and back (at DeepSeek-V3
 * size, 28 KB per row each way).
 */
public interface HiddenStates {
  /** How many rows (tokens). */
  int rows();

  /**
   * Row j's hidden_size values, copied (read from the device where they live there).
   *
   * @throws IllegalStateException when the states no longer exist (a device's, after the engine's
   *     next step)
   */
  float[] row(int j);

  /** Rows [from, to) as hidden states of their own, without a copy. */
  HiddenStates slice(int from, int to);

  /** All rows, copied to the host. */
  default float[][] toArray() {
    float[][] out = new float[rows()][];
    for (int j = 0; j < out.length; j++) {
      out[j] = row(j);
    }
    return out;
  }

  /** Hidden states held in host arrays (the CPU engine's, or a caller's own). */
  static HiddenStates of(float[][] rows) {
    return new OnHeap(rows, 0, rows.length);
  }

  /** Rows [from, to) of arrays on the heap. */
  record OnHeap(float[][] all, int from, int to) implements HiddenStates {
    public OnHeap {
      checkSlice(from, to, all.length);
    }

    @Override
    public int rows() {
      return to - from;
    }

    @Override
    public float[] row(int j) {
      return all[from + java.util.Objects.checkIndex(j, rows())].clone();
    }

    @Override
    public HiddenStates slice(int sliceFrom, int sliceTo) {
      checkSlice(sliceFrom, sliceTo, rows());
      return new OnHeap(all, from + sliceFrom, from + sliceTo);
    }

    @Override
    public float[][] toArray() {
      return Arrays.stream(all, from, to).map(float[]::clone).toArray(float[][]::new);
    }
  }

  /** Checks that [from, to) is a range of n rows. */
  static void checkSlice(int from, int to, int n) {
    if (from < 0 || from > to || to > n) {
      throw new IndexOutOfBoundsException("rows [" + from + ", " + to + ") of " + n);
    }
  }
}
