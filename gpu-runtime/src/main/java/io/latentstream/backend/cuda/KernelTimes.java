package io.latentstream.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

/**
 * GPU time of each launch, by a pair of CUDA events recorded around it on the default stream while
 * {@link CudaDevice#profile} is open: what the kernels of a step cost on the device, apart from the
 * launch gaps and host work between them (the events themselves widen the gaps, not the kernels).
 */
public final class KernelTimes {
  private record Launch(CudaKernel kernel, CUevent start, CUevent end) {}

  private final List<Launch> launches = new ArrayList<>();
  private CudaKernel current;
  private CUevent start;

  void before(CudaKernel kernel) {
    current = kernel;
    start = event();
    cuEventRecord(start, null);
  }

  void after() {
    CUevent end = event();
    cuEventRecord(end, null);
    launches.add(new Launch(current, start, end));
  }

  private static CUevent event() {
    CUevent e = new CUevent();
    cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT);
    return e;
  }

  /**
   * Milliseconds of GPU time per kernel over everything recorded, after the device has
   * synchronized; releases the events.
   */
  Map<CudaKernel, Double> millis() {
    Map<CudaKernel, Double> ms = new EnumMap<>(CudaKernel.class);
    float[] t = new float[1];
    for (Launch l : launches) {
      cuEventElapsedTime(t, l.start(), l.end());
      ms.merge(l.kernel(), (double) t[0], Double::sum);
      cuEventDestroy(l.start());
      cuEventDestroy(l.end());
    }
    launches.clear();
    return ms;
  }
}
