package io.latentstream.gpucheck;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.testing.EmulatedDevice;
import io.latentstream.testing.SharedData;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * GpuCheck's kernel and engine checks as tests, with the tolerances GpuCheck states, on the
 * emulated CUDA device in every build (EmulatedDevice): every kernel against its CPU reference, and
 * the engine with its work on the device against the CPU engine and the goldens of tiny-a,
 * tiny-a-fp8 and brown-mtp (logits, routing, greedy tokens, batch invariance, MTP). The table of
 * results goes to the test's output, each row marked with the device it ran on.
 */
class CudaConformanceTest {
  @RegisterExtension static final EmulatedDevice emulated = new EmulatedDevice();

  @Test
  void everyKernelMatchesItsCpuReference() {
    assertAllPass(new KernelChecks(emulated.get()).all());
  }

  @Test
  void theEnginesOnTheDeviceMatchTheCpuAndTheGoldens() {
    assertAllPass(new EngineChecks(emulated.get(), SharedData.models()).all());
  }

  private static void assertAllPass(List<Supplier<List<CheckResult>>> checks) {
    StringBuilder table = new StringBuilder("on " + emulated.get().name() + "\n");
    StringBuilder failed = new StringBuilder();
    table.append(CheckResult.header()).append('\n');
    for (Supplier<List<CheckResult>> check : checks) {
      for (CheckResult r : check.get()) {
        table.append(r.row()).append('\n');
        if (r.status() != CheckResult.Status.PASS && r.status() != CheckResult.Status.INFO) {
          failed.append(r.row()).append('\n');
        }
      }
    }
    System.out.print(table);
    assertTrue(failed.isEmpty(), "\n" + CheckResult.header() + "\n" + failed);
  }
}
