package io.latentstream.engine.cpu;

import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.TensorInfo;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads a checkpoint onto the Vector API kernels and prints what loading cost: the checkpoint's
 * weight bytes, the load time, the peak heap, the live heap after a GC, and the process's peak and
 * current RSS. {@code java --add-modules jdk.incubator.vector -cp <test classpath>
 * io.latentstream.engine.cpu.LoadFootprint DIR}.
 */
public final class LoadFootprint {
  private LoadFootprint() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    long weightBytes = 0;
    try (Checkpoint ck = Checkpoint.open(dir, Checkpoint.Progress.NONE)) {
      for (TensorInfo t : ck.tensors().values()) {
        weightBytes += t.end() - t.begin();
      }
    }
    long t0 = System.nanoTime();
    CpuEngine engine = CpuEngine.load(dir, new io.latentstream.backend.cpu.VectorKernels());
    long ms = (System.nanoTime() - t0) / 1_000_000;
    long peakHeap = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP) {
        peakHeap += p.getPeakUsage().getUsed();
      }
    }
    System.gc();
    Runtime rt = Runtime.getRuntime();
    long live = rt.totalMemory() - rt.freeMemory();
    String hwm = "";
    String rss = "";
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        hwm = line.substring(6).trim();
      } else if (line.startsWith("VmRSS:")) {
        rss = line.substring(6).trim();
      }
    }
    System.out.printf(
        "%s: weights %d MiB on disk, loaded in %d ms, peak heap %d MiB, live heap after GC %d MiB,"
            + " peak RSS %s, RSS %s (draft vocab %d)%n",
        dir.getFileName(),
        weightBytes >> 20,
        ms,
        peakHeap >> 20,
        live >> 20,
        hwm,
        rss,
        engine.draftVocab());
  }
}
