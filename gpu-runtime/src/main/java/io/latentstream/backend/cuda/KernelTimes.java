package io.latentstream.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

/**
 * GPU time of each launch, by a pair of CUDA events recorded around it on the device's stream while
 * {@link CudaDevice#profile} is open. Launched one by one from Java, a kernel's pair also spans the
 * time the GPU waited for the launch to arrive (when kernels are shorter than a launch, most of
 * it); a graph's pair spans its kernels back to back, with only the graph's own launch before them.
 */
final class KernelTimes {
  private record Launch(String name, CUevent start, CUevent end) {}

  private final CUstream stream;
  private final List<Launch> launches = new ArrayList<>();
  private String current;
  private CUevent start;

  KernelTimes(CUstream stream) {
    this.stream = stream;
  }

  void before(String name) {
    current = name;
    start = event();
    cuEventRecord(start, stream);
  }

  void after() {
    CUevent end = event();
    cuEventRecord(end, stream);
    launches.add(new Launch(current, start, end));
  }

  private static CUevent event() {
    CUevent e = new CUevent();
    cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT);
    return e;
  }

  /**
   * Milliseconds of GPU time per name over everything recorded, after the device has synchronized;
   * releases the events.
   */
  Map<String, Double> millis() {
    Map<String, Double> ms = new TreeMap<>();
    float[] t = new float[1];
    for (Launch l : launches) {
      cuEventElapsedTime(t, l.start(), l.end());
      ms.merge(l.name(), (double) t[0], Double::sum);
      cuEventDestroy(l.start());
      cuEventDestroy(l.end());
    }
    launches.clear();
    return ms;
  }
}
