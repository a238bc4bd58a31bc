package io.latentstream.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.engine.cuda.CudaEngine;
import io.latentstream.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The backend named in configuration gives the engine: cpu the CPU engine; cuda and auto, where a
 * device opens (in the build: the emulated device, see backend/cuda's tests), the CUDA engine.
 * (Where none opens, ops' BackendChoiceTest checks the fallback and the refusal.)
 */
class BackendsTest {
  private static final Path MODEL = SharedData.model("tiny-a");

  @Test
  void cpuIsTheCpuEngine() throws Exception {
    try (Backends.Loaded loaded = Backends.load("cpu", MODEL, sizes())) {
      assertInstanceOf(CpuEngine.class, loaded.engine());
      assertEquals(Backends.Backend.CPU, loaded.backend());
      assertNull(loaded.fallbackReason());
    }
  }

  @Test
  void cudaAndAutoAreTheCudaEngineWhereADeviceOpens() throws Exception {
    String emulator = System.getProperty("latentstream.cuda.emulator");
    Assumptions.assumeTrue(
        emulator != null && Files.exists(Path.of(emulator, "libcuda.so.1")),
        "no emulated CUDA device in this test run (built by gpu-runtime's Maven build with g++)");
    for (String name : new String[] {" CUDA ", "auto"}) {
      try (Backends.Loaded loaded = Backends.load(name, MODEL, sizes())) {
        assertInstanceOf(CudaEngine.class, loaded.engine(), name);
        assertEquals(Backends.Backend.CUDA, loaded.backend());
        assertNull(loaded.fallbackReason());
        assertTrue(loaded.device().emulated());
        assertEquals(8, loaded.engine().generateGreedy(new int[] {1, 2, 3}, 8).length);
      }
    }
  }

  @Test
  void unknownBackendsAreRefused() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Backends.load("tpu", MODEL, sizes()));
    assertTrue(e.getMessage().contains("cpu, cuda or auto"), e.getMessage());
  }

  private static Backends.CudaSizes sizes() {
    return Backends.CudaSizes.forLoop(4, 64, 64L << 20);
  }
}
