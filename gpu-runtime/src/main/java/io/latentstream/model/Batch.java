package io.latentstream.model;

/**
 * The rows of one forward step: consecutive segments, one per sequence, each with its cache and the
 * position of its first row (the cache length before the step).
 *
 * @param rows total rows
 * @param start first row of each segment
 * @param count rows of each segment
 * @param pos0 position of each segment's first row
 * @param caches the cache each segment reads and extends
 */
public record Batch(int rows, int[] start, int[] count, int[] pos0, LatentCache[] caches) {
  public int segments() {
    return start.length;
  }

  /** Makes each cache hold room for its new rows. */
  public void reserve() {
    for (int s = 0; s < start.length; s++) {
      caches[s].reserve(pos0[s] + count[s]);
    }
  }

  /** Marks the step's rows as cached, once the forward pass has written them. */
  public void commit() {
    for (int s = 0; s < start.length; s++) {
      caches[s].setLength(pos0[s] + count[s]);
    }
  }
}
