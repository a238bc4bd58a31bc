package io.latentstream.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.testing.SharedData;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GpuCheck's kernel and engine checks as tests, on a machine with a GPU; elsewhere (CI, the build
 * machines) skipped with the reason the device did not open.
 */
class CudaConformanceTest {
  private static CudaDevice device;
  private static String noDevice;

  @BeforeAll
  static void open() {
    try {
      device = CudaDevice.open();
    } catch (CudaUnavailableException e) {
      noDevice = "CUDA test skipped, no GPU: " + e.getMessage();
    }
  }

  @AfterAll
  static void close() {
    if (device != null) {
      device.close();
    }
  }

  @Test
  void everyKernelMatchesItsCpuReference() {
    assertAllPass(device == null ? List.of() : new KernelChecks(device).all());
  }

  @Test
  void theEnginesOnTheGpuMatchTheCpuAndTheGoldens() {
    assertAllPass(device == null ? List.of() : new EngineChecks(device, SharedData.models()).all());
  }

  private static void assertAllPass(List<Supplier<List<CheckResult>>> checks) {
    Assumptions.assumeTrue(device != null, noDevice);
    StringBuilder failed = new StringBuilder();
    for (Supplier<List<CheckResult>> check : checks) {
      for (CheckResult r : check.get()) {
        if (r.status() != CheckResult.Status.PASS && r.status() != CheckResult.Status.INFO) {
          failed.append(r.row()).append('\n');
        }
      }
    }
    assertTrue(failed.isEmpty(), "\n" + CheckResult.header() + "\n" + failed);
  }
}
