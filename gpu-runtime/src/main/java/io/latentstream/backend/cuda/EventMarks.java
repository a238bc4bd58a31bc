package io.latentstream.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

/**
 * Points of the device's work marked with CUDA events, read back as the GPU time between
 * consecutive marks once the device has passed the last one. For timing while serving: the events
 * are created once and reused, so a mark costs one record call. Not inside a graph capture (events
 * recorded inside a graph cannot be timed on the H200): mark around a graph's replay instead.
 */
public final class EventMarks {
  private final CUstream stream;
  private final List<CUevent> events = new ArrayList<>();
  private final List<Integer> labels = new ArrayList<>();
  private int marked;

  EventMarks(CUstream stream) {
    this.stream = stream;
  }

  /** Records the next mark on the device's stream, with a label for {@link #spans}. */
  public void mark(int label) {
    if (marked == events.size()) {
      CUevent e = new CUevent();
      cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT);
      events.add(e);
      labels.add(label);
    } else {
      labels.set(marked, label);
    }
    cuEventRecord(events.get(marked), stream);
    marked++;
  }

  /** Marks recorded since the last {@link #spans}. */
  public int marked() {
    return marked;
  }

  /** The label of mark i. */
  public int label(int i) {
    return labels.get(i);
  }

  /**
   * Milliseconds of GPU time from each mark to the next ({@link #marked} - 1 of them), waiting for
   * the device to pass the last; the marks are then cleared for reuse.
   */
  public float[] spans() {
    float[] ms = new float[Math.max(0, marked - 1)];
    if (marked > 0) {
      cuEventSynchronize(events.get(marked - 1));
    }
    float[] t = new float[1];
    for (int i = 0; i < ms.length; i++) {
      cuEventElapsedTime(t, events.get(i), events.get(i + 1));
      ms[i] = t[0];
    }
    marked = 0;
    return ms;
  }
}
