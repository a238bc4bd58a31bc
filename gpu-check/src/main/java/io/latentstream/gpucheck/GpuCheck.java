package io.latentstream.gpucheck;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaUnavailableException;
import io.latentstream.gpucheck.CheckResult.Status;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The one program a GPU session runs ({@code ops/gpu-check}): every kernel against its CPU
 * reference, the engine with its linear layers on the GPU against the goldens and the CPU engine,
 * then benchmarks; one compact table at the end, and the same table plus details under --out.
 *
 * <p>Each check runs alone with its own time limit inside an overall budget, so a failing or
 * hanging kernel costs one line, not the session: after a timeout the GPU context may still be
 * busy, so the program then prints what it has and stops. Exit status: 0 all passed, 1 some check
 * failed, 2 no usable GPU (with the reason), 3 stopped on a timeout.
 *
 * <pre>
 * java -cp ... io.latentstream.gpucheck.GpuCheck [--models DIR] [--out DIR]
 *     [--budget-seconds 420] [--sections kernel,engine,bench]
 * </pre>
 */
public final class GpuCheck {
  private final List<CheckResult> results = new ArrayList<>();
  private final PrintStream log;
  private final long deadline;

  private GpuCheck(PrintStream log, long budgetSeconds) {
    this.log = log;
    this.deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(budgetSeconds);
  }

  public static void main(String[] args) throws IOException {
    Path models = Path.of("../shared/models");
    Path out = null;
    long budget = 420;
    List<String> sections = List.of("kernel", "engine", "bench");
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--models" -> models = Path.of(args[++i]);
        case "--out" -> out = Path.of(args[++i]);
        case "--budget-seconds" -> budget = Long.parseLong(args[++i]);
        case "--sections" -> sections = List.of(args[++i].split(","));
        default -> {
          System.err.println("unknown argument " + args[i]);
          System.exit(64);
        }
      }
    }
    if (out != null) {
      Files.createDirectories(out);
    }
    PrintStream details =
        out == null
            ? System.out
            : new PrintStream(
                Files.newOutputStream(out.resolve("gpu-check-details.txt")),
                true,
                StandardCharsets.UTF_8);
    GpuCheck check = new GpuCheck(details, budget);
    int status = check.run(models, sections);
    String table = check.table();
    System.out.println(table);
    if (out != null) {
      Files.writeString(out.resolve("gpu-check-summary.txt"), table);
      details.close();
    }
    // JCuda's and the engine's threads must not keep a stuck context alive past the summary.
    Runtime.getRuntime().halt(status);
  }

  private int run(Path models, List<String> sections) {
    log.println("gpu-check started " + Instant.now());
    CudaDevice device;
    try {
      device = CudaDevice.open();
    } catch (CudaUnavailableException e) {
      results.add(CheckResult.failed("device", "open", Status.SKIP, "no GPU: " + e.getMessage()));
      return 2;
    }
    results.add(
        CheckResult.info(
            "device",
            "open",
            device.name()
                + ", driver "
                + device.driverVersion()
                + ", PTX sm_90 loaded"
                + (device.emulated() ? " (the tests' CPU emulation: logic, not speed)" : "")));
    ExecutorService worker =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "gpu-check");
              t.setDaemon(true);
              return t;
            });
    List<Section> all =
        List.of(
            new Section("kernel", 60, d -> new KernelChecks(d).all()),
            new Section("engine", 180, d -> new EngineChecks(d, models).all()),
            new Section("bench", 120, d -> new CudaBenchmarks(d, models).all()));
    try {
      CudaDevice current = device;
      worker.submit(current::makeCurrent).get();
      for (Section section : all) {
        if (!sections.contains(section.name())) {
          continue;
        }
        if (section.name().equals("bench") && device.emulated()) {
          results.add(
              CheckResult.failed(
                  "bench",
                  "(all)",
                  Status.SKIP,
                  "the emulated device runs on the CPU: its timings say nothing of a GPU's"));
          continue;
        }
        List<Supplier<List<CheckResult>>> checks = section.checks().apply(current);
        for (int i = 0; i < checks.size(); i++) {
          Outcome o = guarded(worker, section.name(), checks.get(i), section.limitSeconds());
          if (o == Outcome.TIMEOUT) {
            return 3;
          }
          if (o == Outcome.ERROR && !healthy(worker, current)) {
            // A fault such as an illegal address poisons the context for every later call: start
            // a fresh one so that the remaining checks still say something.
            current.abandon();
            current = CudaDevice.open();
            worker.submit(current::makeCurrent).get();
            results.add(
                CheckResult.info(
                    section.name(), "(context reset)", "after a fault, fresh context"));
            checks = section.checks().apply(current);
          }
        }
      }
    } catch (InterruptedException | ExecutionException | CudaUnavailableException e) {
      results.add(CheckResult.failed("device", "worker", Status.ERROR, e.toString()));
    }
    boolean failed =
        results.stream().anyMatch(r -> r.status() == Status.FAIL || r.status() == Status.ERROR);
    return failed ? 1 : 0;
  }

  /** A section of the run: its checks on a device, each within limitSeconds. */
  private record Section(
      String name,
      long limitSeconds,
      Function<CudaDevice, List<Supplier<List<CheckResult>>>> checks) {}

  private enum Outcome {
    DONE,
    ERROR,
    TIMEOUT
  }

  /** Whether the context still works after a check threw (a synchronize succeeds). */
  private static boolean healthy(ExecutorService worker, CudaDevice device)
      throws InterruptedException {
    try {
      worker.submit(device::synchronize).get(30, TimeUnit.SECONDS);
      return true;
    } catch (ExecutionException | TimeoutException e) {
      return false;
    }
  }

  /**
   * Runs one check on the GPU thread within min(limit, what is left of the budget). Returns false
   * after a timeout (the GPU may still be busy with it, so nothing more can be trusted).
   */
  private Outcome guarded(
      ExecutorService worker, String section, Supplier<List<CheckResult>> check, long limit) {
    long left = TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime());
    if (left <= 0) {
      results.add(CheckResult.failed(section, "(remaining)", Status.TIMEOUT, "budget spent"));
      return Outcome.TIMEOUT;
    }
    long started = System.nanoTime();
    Future<List<CheckResult>> f = worker.submit(check::get);
    try {
      List<CheckResult> r = f.get(Math.min(limit, left), TimeUnit.SECONDS);
      results.addAll(r);
      r.forEach(x -> log.println(x.row()));
      log.printf("  (%.1f s)%n", (System.nanoTime() - started) / 1e9);
      return Outcome.DONE;
    } catch (TimeoutException e) {
      results.add(
          CheckResult.failed(
              section,
              "(stopped)",
              Status.TIMEOUT,
              "a check ran past " + Math.min(limit, left) + " s"));
      return Outcome.TIMEOUT;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      cause.printStackTrace(log);
      results.add(
          CheckResult.failed(
              section,
              cause.getStackTrace().length > 0 ? where(cause) : "(check)",
              Status.ERROR,
              String.valueOf(cause).lines().findFirst().orElse("")));
      return Outcome.ERROR;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Outcome.TIMEOUT;
    }
  }

  /** The check method a failure came from, for the table. */
  private static String where(Throwable t) {
    for (StackTraceElement e : t.getStackTrace()) {
      if (e.getClassName().startsWith("io.latentstream.backend.cuda.")
          && !e.getClassName().endsWith("CudaDevice")) {
        return e.getClassName().replaceAll(".*\\.", "") + "." + e.getMethodName();
      }
    }
    return "(check)";
  }

  private String table() {
    StringBuilder b = new StringBuilder();
    b.append("== latentstream gpu-check ").append(Instant.now()).append(" ==\n");
    b.append(CheckResult.header()).append('\n');
    for (CheckResult r : results) {
      b.append(r.row()).append('\n');
    }
    long pass = results.stream().filter(r -> r.status() == Status.PASS).count();
    long bad =
        results.stream()
            .filter(r -> r.status() != Status.PASS && r.status() != Status.INFO)
            .count();
    b.append(pass).append(" passed, ").append(bad).append(" not passed\n");
    return b.toString();
  }
}
