package io.latentstream.gpucheck;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentstream.testing.EmulatedDevice;
import io.latentstream.testing.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The emulated device's own checks. Its semantics: a barrier really waits, a shuffle really
 * exchanges, bf16 rounds to nearest even, the mma fragments are the PTX ISA's (the native
 * selftest). And memory safety: GpuCheck's kernel checks and the engine checks of the small models
 * (the engine's own shapes: paged cache, expert groups, both precisions) on the emulator built with
 * AddressSanitizer, one block at a time, in a JVM of their own; a kernel that reads or writes past
 * an allocation or a __shared__ array stops it with ASan's report.
 */
class CudaEmulatorTest {
  /** The exit status AddressSanitizer is told to use, so that its stop is told from a failure. */
  private static final int ASAN_EXIT = 86;

  @Test
  void barriersShufflesBf16AndMmaBehaveAsOnTheDevice() throws Exception {
    Path selftest = built("selftest");
    assertEquals(0, run(List.of(selftest.toString()), Map.of()), "the emulator's selftest");
  }

  @Test
  void noKernelReadsOrWritesOutsideItsMemory(@TempDir Path models) throws Exception {
    Path asan = built("asan/libcuda.so.1").getParent();
    for (String model : List.of("tiny-a", "tiny-a-fp8")) {
      Files.createSymbolicLink(models.resolve(model), SharedData.model(model));
    }
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        List.of(
            java.toString(),
            "--add-modules",
            "jdk.incubator.vector",
            "-cp",
            System.getProperty("java.class.path"),
            GpuCheck.class.getName(),
            "--models",
            models.toString(),
            "--sections",
            "kernel,engine");
    Map<String, String> env =
        Map.of(
            "LD_LIBRARY_PATH",
            asan.toString(),
            "LD_PRELOAD",
            Files.readString(asan.resolve("preload")).strip(),
            // The JVM handles its own SIGSEGVs (safepoints, null checks) and never frees some
            // memory on purpose: ASan must leave both alone.
            "ASAN_OPTIONS",
            "handle_segv=0:allow_user_segv_handler=1:detect_leaks=0:exitcode=" + ASAN_EXIT);
    int status = run(command, env);
    // GpuCheck: 0 all passed (brown-mtp's rows skipped: not linked here), 1 a check failed.
    assertEquals(0, status, status == ASAN_EXIT ? "AddressSanitizer stopped a kernel" : "GpuCheck");
  }

  private static Path built(String file) {
    Path folder = EmulatedDevice.folder();
    Assumptions.assumeTrue(folder != null, "runs in the Maven build, which builds the emulator");
    Path path = folder.resolve(file);
    Assumptions.assumeTrue(
        Files.exists(path), "the emulated CUDA device was not built (g++ missing?): skipped");
    return path;
  }

  private static int run(List<String> command, Map<String, String> env)
      throws IOException, InterruptedException {
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(env);
    Process p = builder.start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    System.out.print(output);
    return p.waitFor();
  }
}
