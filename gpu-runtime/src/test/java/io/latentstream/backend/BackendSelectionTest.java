package io.latentstream.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaKernels;
import io.latentstream.backend.cuda.CudaUnavailableException;
import org.junit.jupiter.api.Test;

class BackendSelectionTest {
  @Test
  void cpuIsTheVectorKernels() {
    try (Backends.Selection s = Backends.select("cpu")) {
      assertEquals(Backends.Backend.CPU, s.backend());
      assertInstanceOf(VectorKernels.class, s.kernels());
      assertNull(s.fallbackReason());
    }
  }

  /**
   * On a machine without a usable GPU (CI, this project's build machines) cuda falls back to the
   * CPU with the device's own reason; on a GPU machine it runs the CUDA kernels. Which one applies
   * is decided by opening the device directly, so the test checks the right branch either way.
   */
  @Test
  void cudaFallsBackToTheCpuExactlyWhenNoDeviceOpens() {
    String deviceFailure;
    try (CudaDevice d = CudaDevice.open()) {
      deviceFailure = null;
    } catch (CudaUnavailableException e) {
      deviceFailure = e.getMessage();
    }
    try (Backends.Selection s = Backends.select(" CUDA ")) {
      if (deviceFailure == null) {
        assertEquals(Backends.Backend.CUDA, s.backend());
        assertInstanceOf(CudaKernels.class, s.kernels());
        assertNull(s.fallbackReason());
      } else {
        System.out.println("no GPU here, cuda fell back to the CPU: " + s.fallbackReason());
        assertEquals(Backends.Backend.CPU, s.backend());
        assertInstanceOf(VectorKernels.class, s.kernels());
        assertEquals(deviceFailure, s.fallbackReason());
      }
    }
  }

  @Test
  void theFallbackReasonNamesTheMissingPiece() {
    try (Backends.Selection s = Backends.select("cuda")) {
      if (s.backend() == Backends.Backend.CPU) {
        assertNotNull(s.fallbackReason());
        String r = s.fallbackReason();
        assertTrue(
            r.contains("PTX")
                || r.contains("libcuda")
                || r.contains("CUDA driver")
                || r.contains("no device"),
            r);
      }
    }
  }

  @Test
  void unknownBackendsAreRefused() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Backends.select("tpu"));
    assertTrue(e.getMessage().contains("cpu or cuda"), e.getMessage());
  }
}
