package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaUnavailableException;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU half of ops/gpu-check ({@code run}) on a bundle laid out as {@code ops/gpu-check bundle}
 * lays it out (a jre.tar.xz, lib/*.jar, native/, models/), made from this JVM (a jre/bin/java that
 * starts it) and the gpu-runtime and gpu-check part of its class path. On a machine without a GPU
 * it must unpack the runtime, start GpuCheck, and end with status 2 and a summary that says why;
 * pointed at the tests' CPU-emulated CUDA device (GPU_CHECK_EMULATOR), it must run the kernel
 * checks there, pass them, and skip the benchmarks and the GPU-only extras saying why. (The bundle
 * build itself takes Maven, jlink and xz a minute and a half: run {@code ops/gpu-check bundle} by
 * hand.)
 */
class GpuCheckScriptTest {
  @Test
  void runSaysThereIsNoGpuAndWritesTheSummary(@TempDir Path tmp)
      throws IOException, InterruptedException {
    try (CudaDevice d = CudaDevice.open()) {
      Assumptions.abort("this machine has a GPU: run ops/gpu-check itself here");
    } catch (CudaUnavailableException expected) {
      // The case under test.
    }
    Path out = tmp.resolve("out");
    Run run = run(tmp, out, null);
    assertEquals(2, run.status(), run.log());
    assertTrue(run.log().contains("no usable GPU on this machine"), run.log());
    String summary = Files.readString(out.resolve("gpu-check-summary.txt"));
    assertTrue(summary.contains("SKIP") && summary.contains("no GPU: "), summary);
    assertTrue(Files.exists(out.resolve("nvidia-smi.txt")), "nvidia-smi.txt missing");
  }

  @Test
  void runOnTheEmulatedDeviceChecksTheKernelsAndSkipsTheTimings(@TempDir Path tmp)
      throws IOException, InterruptedException {
    Path emulator = root().resolve("gpu-runtime/target/cuda-emulator");
    Assumptions.assumeTrue(
        Files.exists(emulator.resolve("libcuda.so.1")),
        "the emulated CUDA device was not built (gpu-runtime's tests build it; g++ missing?)");
    Path out = tmp.resolve("out");
    Run run = run(tmp, out, emulator);
    assertEquals(0, run.status(), run.log());
    assertTrue(run.log().contains("on the CPU-emulated CUDA device"), run.log());
    assertTrue(run.log().contains("extras (peer, compute-sanitizer, ncu) skipped"), run.log());
    String summary = Files.readString(out.resolve("gpu-check-summary.txt"));
    assertTrue(summary.contains(CudaDevice.EMULATOR_NAME), summary);
    assertTrue(summary.contains("kernel  gemm_bf16"), summary);
    assertTrue(
        summary.lines().filter(l -> l.startsWith("kernel")).allMatch(l -> l.contains(" PASS ")),
        summary);
    assertTrue(summary.contains("timings say nothing of a GPU's"), summary);
  }

  private record Run(int status, String log) {}

  /**
   * ops/gpu-check run --sections kernel,bench on a bundle of this JVM, on the emulator if given.
   */
  private static Run run(Path tmp, Path out, Path emulator)
      throws IOException, InterruptedException {
    Path bundle = bundleFromThisJvm(tmp);
    ProcessBuilder pb =
        new ProcessBuilder(
                "bash",
                root().resolve("ops/gpu-check").toString(),
                "run",
                "--sections",
                "kernel,bench")
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("log.txt").toFile());
    pb.environment().put("GPU_CHECK_BUNDLE", bundle.toString());
    pb.environment().put("GPU_CHECK_BUDGET", "60");
    pb.environment().put("OUT", out.toString());
    if (emulator != null) {
      pb.environment().put("GPU_CHECK_EMULATOR", emulator.toString());
    }
    Process p = pb.start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "ops/gpu-check run did not finish");
    return new Run(p.exitValue(), Files.readString(tmp.resolve("log.txt")));
  }

  private static Path root() {
    Path root = Path.of("").toAbsolutePath();
    while (!Files.exists(root.resolve("ops/gpu-check"))) {
      root = root.getParent();
    }
    return root;
  }

  /** jre.tar.xz holding a link to this JVM, lib/ with this class path as jars, empty models. */
  private static Path bundleFromThisJvm(Path tmp) throws IOException, InterruptedException {
    Path bundle = tmp.resolve("bundle");
    Path lib = Files.createDirectories(bundle.resolve("lib"));
    Files.createDirectories(bundle.resolve("native"));
    Files.createDirectories(bundle.resolve("models/brown-mtp"));
    Path stage = Files.createDirectories(tmp.resolve("stage"));
    Path java = Files.createDirectories(stage.resolve("jre/bin")).resolve("java");
    Files.writeString(
        java,
        "#!/bin/sh\nexec '"
            + Path.of(System.getProperty("java.home"), "bin", "java")
            + "' \"$@\"\n");
    assertTrue(java.toFile().setExecutable(true));
    Process tar =
        new ProcessBuilder(
                "tar",
                "-C",
                stage.toString(),
                "-cJf",
                bundle.resolve("jre.tar.xz").toString(),
                "jre")
            .inheritIO()
            .start();
    assertEquals(0, tar.waitFor());
    int i = 0;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path e = Path.of(entry);
      String name = e.toString();
      if (!(name.contains("gpu-runtime")
          || name.contains("gpu-check")
          || name.matches(".*/(jcuda|jackson|slf4j)[^/]*\\.jar"))) {
        continue; // what the bundle carries, as ops/gpu-check bundle picks it
      }
      Path jar = lib.resolve(i++ + "-" + e.getFileName() + (Files.isDirectory(e) ? ".jar" : ""));
      if (Files.isDirectory(e)) {
        jarUp(e, jar);
      } else {
        Files.copy(e, jar);
      }
    }
    return bundle;
  }

  private static void jarUp(Path dir, Path jar) throws IOException {
    try (OutputStream os = Files.newOutputStream(jar);
        JarOutputStream out = new JarOutputStream(os);
        Stream<Path> files = Files.walk(dir)) {
      for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
        out.putNextEntry(
            new JarEntry(dir.relativize(f).toString().replace(File.separatorChar, '/')));
        Files.copy(f, out);
        out.closeEntry();
      }
    }
  }
}
