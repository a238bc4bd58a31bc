package io.latentstream.ops;

import io.latentstream.engine.Engine;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.model.ModelConfig;
import io.latentstream.runtime.Backends;
import io.latentstream.weights.Checkpoint;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import picocli.CommandLine.Command;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * The engine benchmark of issue 3: greedy decode tokens/s at batch 1 and batch B after a prompt,
 * prefill time of a long prompt, peak memory; medians over repetitions after warm-up. On either
 * backend ({@code --backend}): the same program through the Engine interface.
 *
 * <p>Issue 23's figures beside them: this machine's memory bandwidth, measured first in the same
 * run; the weight bytes a batch-1 decode step streams as stored ({@link DecodeTraffic}) and the
 * rate that bandwidth allows over them, of which the measured batch-1 rate is a fraction; the
 * load's time and rate; resident memory after the load and at its peak, against the weight bytes.
 */
@Command(
    name = "bench-engine",
    description = {
      "Benchmark an engine: decode tokens/s, prefill time, peak memory.",
      "Without --model: "
          + BenchEngineCommand.MODEL
          + "; without --prompt-ids: \"The jury said\" ("
          + BenchEngineCommand.PROMPT_IDS
          + ")."
    },
    defaultValueProvider = BenchEngineCommand.Defaults.class)
final class BenchEngineCommand extends EngineCommand {
  /** The checkpoint benchmarked without --model: the bundled one. */
  static final String MODEL = "models/brown-mtp";

  /** The decode prompt without --prompt-ids: "The jury said". */
  static final String PROMPT_IDS = "0,478,4717,557";

  @Mixin ModelOptions options;

  @Option(names = "--new-tokens", defaultValue = "128")
  int newTokens;

  @Option(
      names = "--batch",
      defaultValue = "8",
      description = "Sequences decoded together in the batched run.")
  int batch;

  @Option(
      names = "--prefill",
      defaultValue = "256",
      description = "Prompt length of the prefill run.")
  int prefill;

  @Option(names = "--warmup", defaultValue = "3")
  int warmup;

  @Option(names = "--reps", defaultValue = "7")
  int reps;

  @Option(names = "--threads", description = "CPU backend: kernel threads (default: one per core).")
  Integer threads;

  @Option(
      names = "--bandwidth-mib",
      defaultValue = "512",
      description =
          "Buffer of the memory bandwidth measurement, far above the last-level cache (default"
              + " ${DEFAULT-VALUE}).")
  int bandwidthMib;

  @Option(
      names = "--mtp",
      description =
          "Instead: greedy generation at batch 1 (see --concurrency) with and without MTP drafting,"
              + " in one run, on the golden-style prompts (--mtp-prompts).")
  boolean mtp;

  @Option(
      names = "--mtp-prompts",
      split = ";",
      defaultValue = "0,478,4717,557;0,478,678,945;0,344,484,307;0,1452,18,1204;0,2521,591,265",
      description = "Prompts of the MTP run, as id lists separated by ';'.")
  List<String> mtpPrompts;

  @Option(
      names = "--concurrency",
      defaultValue = "1",
      description =
          "With --mtp: requests generating at once (default 1: each prompt alone, with the step"
              + " costs). Above 1, four times as many requests (the prompts in turn) go to one"
              + " loop that runs this many at once.")
  int concurrency;

  @Option(
      names = "--draft-vocab",
      split = ",",
      description =
          "MTP draft vocabularies to compare (the first N token ids each); default: the engine's.")
  List<Integer> draftVocabs;

  @Option(
      names = "--min-confidence",
      split = ",",
      defaultValue = "auto",
      description =
          "MTP draft confidences below which no draft is proposed, to compare (each with every"
              + " --draft-vocab); auto: the loop's gate, which follows the measured step costs"
              + " (default).")
  List<String> minConfidences;

  /**
   * The defaults of the shared model options here, so that {@code ops/latentstream bench-engine}
   * alone benchmarks the bundled model on a short prompt.
   */
  static final class Defaults implements IDefaultValueProvider {
    @Override
    public String defaultValue(ArgSpec argSpec) {
      if (argSpec instanceof OptionSpec option) {
        return switch (option.longestName()) {
          case "--model" -> MODEL;
          case "--prompt-ids" -> PROMPT_IDS;
          default -> null;
        };
      }
      return null;
    }
  }

  /** What the run measures before its decode runs, and the weights it streams. */
  private record Setup(
      MemoryBandwidth bandwidth,
      long weightBytes,
      long decodeBytesPerToken,
      double loadSeconds,
      long rssAfterLoadKib) {}

  @Override
  void run() throws Exception {
    if (mtp) {
      try (Backends.Loaded loaded = load()) {
        runMtp(loaded.engine());
      }
      return;
    }
    if (bandwidthMib <= 0) {
      throw new IllegalArgumentException("--bandwidth-mib must be positive");
    }
    int workers = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    MemoryBandwidth bandwidth = MemoryBandwidth.measure((long) bandwidthMib << 20, workers, 7);
    // The buffer is garbage now: collect it and restart the peaks, so that the peaks reported are
    // the engine's, not the measurement's.
    System.gc();
    resetPeaks();
    ModelConfig config = options.config();
    Map<String, Long> stored = new HashMap<>();
    try (Checkpoint ck = Checkpoint.open(options.model, Checkpoint.Progress.NONE)) {
      ck.tensors().forEach((name, t) -> stored.put(name, t.end() - t.begin()));
    }
    long weightBytes = stored.values().stream().mapToLong(Long::longValue).sum();
    long t0 = System.nanoTime();
    try (Backends.Loaded loaded = load()) {
      double loadSeconds = (System.nanoTime() - t0) / 1e9;
      Setup setup =
          new Setup(
              bandwidth,
              weightBytes,
              DecodeTraffic.weightBytesPerToken(config, stored),
              loadSeconds,
              statusKib("VmRSS"));
      run(loaded, setup);
    }
  }

  /** The engine on the chosen backend, a CUDA one sized for the largest step of the runs. */
  private Backends.Loaded load() throws Exception {
    if (threads != null) {
      if (Backends.Backend.of(options.backend.name) != Backends.Backend.CPU) {
        throw new IllegalArgumentException("--threads is for --backend cpu");
      }
      return Backends.cpu(options.model, threads);
    }
    int running = Math.max(batch, concurrency);
    return Backends.load(
        options.backend.name,
        options.model,
        Backends.CudaSizes.forLoop(running, Math.max(prefill, 512), 256L << 20));
  }

  private void runMtp(Engine engine) {
    if (!engine.hasMtp()) {
      throw new IllegalArgumentException(options.model + " has no MTP module");
    }
    List<int[]> prompts =
        mtpPrompts.stream()
            .map(ids -> Arrays.stream(ids.split(",")).mapToInt(Integer::parseInt).toArray())
            .toList();
    List<MtpBenchmark.Drafting> settings = new ArrayList<>();
    for (int vocab : draftVocabs != null ? draftVocabs : List.of(engine.draftVocab())) {
      for (String confidence : minConfidences) {
        settings.add(
            new MtpBenchmark.Drafting(
                engine.withDraftVocab(vocab),
                confidence.equals("auto") ? null : Float.valueOf(confidence)));
      }
    }
    new MtpBenchmark(engine, prompts, newTokens, concurrency, settings)
        .run(cli().getOut(), warmup, reps);
  }

  private void run(Backends.Loaded loaded, Setup setup) {
    Engine engine = loaded.engine();
    int[] prompt = options.ids(engine.config());
    int[] longPrompt = new Random(42).ints(prefill, 2, engine.config().vocabSize()).toArray();
    double[] b1 = new double[reps];
    double[] bn = new double[reps];
    double[] pf = new double[reps];
    double[] cpu1 = new double[reps];
    double[] cpuPf = new double[reps];
    for (int r = -warmup; r < reps; r++) {
      long c0 = processCpuNanos();
      double t1 = decodeSeconds(engine, prompt, 1);
      double c1 = (processCpuNanos() - c0) / 1e3 / newTokens;
      double tn = decodeSeconds(engine, prompt, batch);
      long pc0 = processCpuNanos();
      long p0 = System.nanoTime();
      Sequence prefilled = engine.newSequence();
      engine.step(List.of(new StepRequest(prefilled, longPrompt, StepRequest.Logits.LAST)));
      double tp = (System.nanoTime() - p0) / 1e9;
      double cp = (processCpuNanos() - pc0) / 1e6;
      prefilled.release();
      if (r >= 0) {
        b1[r] = newTokens / t1;
        bn[r] = (double) batch * newTokens / tn;
        pf[r] = tp * 1e3;
        cpu1[r] = c1;
        cpuPf[r] = cp;
      }
    }
    var out = cli().getOut();
    out.printf(
        "model %s, backend %s, %d cores, %d warm-up + %d repetitions (medians)%n",
        options.model,
        loaded.backend().name().toLowerCase(Locale.ROOT),
        Runtime.getRuntime().availableProcessors(),
        warmup,
        reps);
    out.printf(
        "decode batch 1: %.0f tokens/s (%d greedy tokens after %d prompt ids)%n",
        median(b1), newTokens, prompt.length);
    out.printf("decode batch 1: %.0f us of main-thread CPU per token%n", median(cpu1));
    out.printf("decode batch %d: %.0f tokens/s%n", batch, median(bn));
    out.printf("prefill %d tokens: %.1f ms%n", prefill, median(pf));
    out.printf("prefill %d tokens: %.1f ms of main-thread CPU%n", prefill, median(cpuPf));
    long peakRssKib = statusKib("VmHWM");
    out.printf(
        "peak heap %d MiB, peak RSS %s%n",
        peakHeapMiB(), peakRssKib < 0 ? "n/a" : peakRssKib + " kB");
    MemoryBandwidth bw = setup.bandwidth();
    out.printf(
        Locale.ROOT,
        "memory bandwidth: read %.1f GB/s, copy %.1f GB/s (%d MiB, %d threads, median of %d,"
            + " measured before the load)%n",
        bw.readGbS(),
        bw.copyGbS(),
        bw.bytes() >> 20,
        bw.threads(),
        bw.passes());
    out.printf(
        Locale.ROOT,
        "load: %.2f s for %.1f MB of weights (%.0f MB/s); RSS after load %d MiB%n",
        setup.loadSeconds(),
        setup.weightBytes() / 1e6,
        setup.weightBytes() / 1e6 / setup.loadSeconds(),
        setup.rssAfterLoadKib() >> 10);
    double bound = bw.readGbS() * 1e9 / setup.decodeBytesPerToken();
    out.printf(
        Locale.ROOT,
        "decode batch 1 bound: %.1f tokens/s (%.1f MB of stored weights per token at %.1f GB/s);"
            + " measured %.2f of it%n",
        bound,
        setup.decodeBytesPerToken() / 1e6,
        bw.readGbS(),
        median(b1) / bound);
    double peakOfWeights = (peakRssKib << 10) / (double) setup.weightBytes();
    out.printf(
        Locale.ROOT,
        "peak RSS since the load: %d MiB, %.2f x the %.1f MB of weights%n",
        peakRssKib >> 10,
        peakOfWeights,
        setup.weightBytes() / 1e6);
    out.printf(
        Locale.ROOT,
        "{\"decode_b1_tok_s\":%.0f,\"decode_b%d_tok_s\":%.0f,\"prefill_%d_ms\":%.1f,"
            + "\"peak_heap_mib\":%d,\"read_gb_s\":%.2f,\"copy_gb_s\":%.2f,"
            + "\"decode_bytes_per_token\":%d,\"decode_b1_bound_tok_s\":%.1f,"
            + "\"decode_b1_of_bound\":%.3f,\"load_s\":%.2f,\"load_mb_s\":%.0f,"
            + "\"weight_bytes\":%d,\"rss_after_load_mib\":%d,\"peak_rss_mib\":%d,"
            + "\"peak_rss_of_weights\":%.2f}%n",
        median(b1),
        batch,
        median(bn),
        prefill,
        median(pf),
        peakHeapMiB(),
        bw.readGbS(),
        bw.copyGbS(),
        setup.decodeBytesPerToken(),
        bound,
        median(b1) / bound,
        setup.loadSeconds(),
        setup.weightBytes() / 1e6 / setup.loadSeconds(),
        setup.weightBytes(),
        setup.rssAfterLoadKib() >> 10,
        peakRssKib >> 10,
        peakOfWeights);
  }

  /** Seconds to decode newTokens greedy tokens in each of n sequences (prompt prefill excluded). */
  private double decodeSeconds(Engine engine, int[] prompt, int n) {
    List<Sequence> seqs = new ArrayList<>();
    List<StepRequest> step = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      seqs.add(engine.newSequence());
      step.add(new StepRequest(seqs.get(i), prompt, StepRequest.Logits.LAST));
    }
    List<StepResult> res = engine.step(step);
    long t0 = System.nanoTime();
    for (int k = 0; k < newTokens; k++) {
      step.clear();
      for (int i = 0; i < n; i++) {
        int next = Engine.argmax(res.get(i).logits()[0]);
        step.add(new StepRequest(seqs.get(i), new int[] {next}, StepRequest.Logits.LAST));
      }
      res = engine.step(step);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    seqs.forEach(Sequence::release); // a CUDA engine's latent pages go back to its pool
    return seconds;
  }

  /**
   * CPU time of the calling thread (ns resolution): with --threads 1 all the engine's work, and
   * robust to other processes competing for the cores, unlike wall time.
   */
  private static long processCpuNanos() {
    return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private static long peakHeapMiB() {
    long peak = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP) {
        peak += p.getPeakUsage().getUsed();
      }
    }
    return peak >> 20;
  }

  /** A field of /proc/self/status in kB (VmRSS, VmHWM), or -1 where there is none (not Linux). */
  private static long statusKib(String field) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(field + ":")) {
          return Long.parseLong(line.substring(field.length() + 1).replace("kB", "").trim());
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not Linux: the heap figure stands alone.
    }
    return -1;
  }

  /**
   * Restarts the heap pools' peaks and VmHWM at their present sizes (Linux: 5 to
   * /proc/self/clear_refs); where the latter fails, the peak RSS counts from the process's start.
   */
  private static void resetPeaks() {
    ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    } catch (IOException | RuntimeException e) {
      // Not Linux, or not allowed: the peak then includes the bandwidth buffer.
    }
  }
}
