package io.latentstream.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The CUDA device the tests run on: in the Maven build, the CPU-emulated device of
 * src/test/cuda-emulator (surefire puts its libcuda.so.1 on LD_LIBRARY_PATH and names its folder in
 * latentstream.cuda.emulator), which must then open; it is missing only where g++ is, and the tests
 * skip saying so. Run outside the build (an IDE), whatever device the machine has, or a skip.
 *
 * <p>A test class registers one ({@code @RegisterExtension static final EmulatedDevice device}):
 * the device is open for the class's tests and closed after them.
 */
public final class EmulatedDevice implements BeforeAllCallback, AfterAllCallback {
  private CudaDevice device;

  /** The open device, inside the registering class's tests. */
  public CudaDevice get() {
    return device;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    device = open();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (device != null) {
      device.close();
    }
  }

  /** The folder of the emulator's build, or null when the tests run outside the Maven build. */
  public static Path folder() {
    String dir = System.getProperty("latentstream.cuda.emulator");
    return dir == null ? null : Path.of(dir);
  }

  /**
   * Skips the calling tests when the Maven build could not build the emulated device (g++ missing),
   * for tests whose code under test opens the device itself (a service).
   */
  public static void assumeBuilt() {
    Path folder = folder();
    if (folder != null && !Files.exists(folder.resolve("libcuda.so.1"))) {
      Assumptions.abort(
          "CUDA tests skipped: the emulated CUDA device was not built ("
              + folder
              + " has no"
              + " libcuda.so.1; the build says why, most likely g++ missing)");
    }
    Assumptions.assumeTrue(
        folder != null, "CUDA service tests run in the Maven build, on the emulated device");
  }

  /**
   * Opens the device, or skips the calling test with the reason there is none (for tests that open
   * it themselves, beside tests that need no device); close it after them.
   */
  public static CudaDevice open() {
    Path folder = folder();
    if (folder != null && !Files.exists(folder.resolve("libcuda.so.1"))) {
      assumeBuilt();
    }
    try {
      CudaDevice device = CudaDevice.open();
      if (folder != null) {
        assertTrue(
            device.emulated(),
            "the tests must run on the emulated device, not on " + device.name());
      }
      return device;
    } catch (CudaUnavailableException e) {
      if (folder != null) {
        fail("the emulated CUDA device is built but does not open", e);
      }
      Assumptions.abort("CUDA tests skipped, no GPU: " + e.getMessage());
      throw new AssertionError("unreachable");
    }
  }
}
