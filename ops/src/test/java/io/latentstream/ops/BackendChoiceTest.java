package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaUnavailableException;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.runtime.Backends;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Where no CUDA device opens (this JVM has no emulator on its library path): auto serves on the CPU
 * and says why, with the device's own reason; cuda refuses to start rather than serve elsewhere.
 */
class BackendChoiceTest {
  @Test
  void autoFallsBackToTheCpuAndCudaRefuses() throws Exception {
    String reason;
    try (CudaDevice d = CudaDevice.open()) {
      Assumptions.abort("a CUDA device opens here: " + d.name());
      return;
    } catch (CudaUnavailableException e) {
      reason = e.getMessage();
    }
    Path model = Path.of(System.getProperty("latentstream.shared"), "models", "tiny-a");
    Backends.CudaSizes sizes = Backends.CudaSizes.forLoop(4, 64, 64L << 20);
    try (Backends.Loaded loaded = Backends.load("auto", model, sizes)) {
      assertInstanceOf(CpuEngine.class, loaded.engine());
      assertEquals(Backends.Backend.CPU, loaded.backend());
      assertEquals(reason, loaded.fallbackReason());
    }
    IllegalStateException refused =
        assertThrows(IllegalStateException.class, () -> Backends.load("cuda", model, sizes));
    assertTrue(refused.getMessage().startsWith("backend cuda: "), refused.getMessage());
  }
}
