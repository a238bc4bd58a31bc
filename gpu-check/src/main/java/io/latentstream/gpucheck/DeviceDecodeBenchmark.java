package io.latentstream.gpucheck;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.engine.cuda.CudaEngine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.DoubleSupplier;
import java.util.stream.Collectors;

/**
 * brown-mtp greedy generation on the device ({@link CudaEngine}), measured as the transformers peer
 * is (ops/gpu-peer-transformers.py): 16-token prompts (token i of row b = (31 b + 7 i) mod vocab),
 * 128 new tokens per sequence, tokens/s over the whole generation, prefill included. Four ways,
 * alternated over three rounds, medians reported: kernels launched one by one or decode steps
 * replayed from CUDA graphs, each with MTP drafting off and on. MTP drafting must be lossless and
 * graphs must not change a number: every way's tokens are checked against the first's, bitwise.
 * Then the split of a decode step: the GPU time of its graph (CUDA events around the replay)
 * against the step's wall time launched one by one and from the graph.
 */
final class DeviceDecodeBenchmark {
  private static final String SECTION = "bench";
  private static final int PROMPT = 16;
  private static final int NEW_TOKENS = 128;
  private static final int ROUNDS = 3;

  /** One way of generating. */
  private enum Way {
    LAUNCHES(false, false),
    GRAPHS(true, false),
    MTP_LAUNCHES(false, true),
    MTP_GRAPHS(true, true);

    final boolean graphs;
    final boolean mtp;

    Way(boolean graphs, boolean mtp) {
      this.graphs = graphs;
      this.mtp = mtp;
    }

    String label() {
      return (mtp ? "mtp on" : "mtp off") + (graphs ? ", graphs" : ", launches");
    }
  }

  /** A generation's tokens and what it took. */
  private record Run(
      int[][] tokens, double seconds, double medianStepMs, int steps, int drafted, int accepted) {}

  private final CudaDevice device;
  private final Path model;
  private final DoubleSupplier launchUs;
  private final Map<Integer, double[]> stepMs = new java.util.HashMap<>();
  private CudaEngine gpu;

  DeviceDecodeBenchmark(CudaDevice device, Path model, DoubleSupplier launchUs) {
    this.device = device;
    this.model = model;
    this.launchUs = launchUs;
  }

  private CudaEngine engine() {
    if (gpu == null) {
      try {
        gpu = CudaEngine.load(device, model, 2048, 1 << 16);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return gpu;
  }

  private List<int[]> prompts(int batch) {
    List<int[]> prompts = new ArrayList<>();
    for (int s = 0; s < batch; s++) {
      int[] p = new int[PROMPT];
      for (int i = 0; i < p.length; i++) {
        p[i] = (s * 31 + i * 7) % engine().config().vocabSize();
      }
      prompts.add(p);
    }
    return prompts;
  }

  /**
   * The rows for one batch size: tokens/s each way, and each way's tokens against the first's. A
   * way that fails (a graph capture the driver refuses, say) gets an ERROR row; the others go on.
   */
  List<CheckResult> batch(int batch) {
    CudaEngine e = engine();
    List<int[]> prompts = prompts(batch);
    List<Way> ways = new ArrayList<>(List.of(Way.values()));
    if (!e.hasMtp()) {
      ways.removeIf(w -> w.mtp);
    }
    Map<Way, List<Run>> runs = new java.util.EnumMap<>(Way.class);
    List<CheckResult> out = new ArrayList<>();
    for (int round = 0; round < ROUNDS; round++) {
      for (Way way : List.copyOf(ways)) {
        try {
          runs.computeIfAbsent(way, w -> new ArrayList<>()).add(generate(e, prompts, way));
        } catch (RuntimeException failure) {
          e.useGraphs(false);
          ways.remove(way);
          runs.remove(way);
          out.add(
              CheckResult.failed(
                  SECTION,
                  "brown-mtp device b" + batch + " " + way.label(),
                  CheckResult.Status.ERROR,
                  String.valueOf(failure).lines().findFirst().orElse("")));
        }
      }
    }
    Run reference = runs.containsKey(Way.LAUNCHES) ? runs.get(Way.LAUNCHES).get(0) : null;
    for (var entry : runs.entrySet()) {
      Way way = entry.getKey();
      List<Run> r = entry.getValue();
      double seconds = median(r.stream().mapToDouble(Run::seconds).toArray());
      double step = median(r.stream().mapToDouble(Run::medianStepMs).toArray());
      if (way == Way.LAUNCHES || way == Way.GRAPHS) {
        stepMs.computeIfAbsent(batch, k -> new double[2])[way.graphs ? 1 : 0] = step;
      }
      String mtp =
          way.mtp
              ? String.format(
                  Locale.ROOT,
                  "; %d steps, %.0f%% of %d drafts accepted",
                  r.get(0).steps(),
                  100.0 * r.get(0).accepted() / Math.max(1, r.get(0).drafted()),
                  r.get(0).drafted())
              : "";
      out.add(
          CheckResult.info(
              SECTION,
              "brown-mtp device b" + batch + " " + way.label(),
              String.format(
                  Locale.ROOT,
                  "%.0f tok/s (%d x %d new tokens in %.3f s; median step %.3f ms)%s",
                  batch * NEW_TOKENS / seconds,
                  batch,
                  NEW_TOKENS,
                  seconds,
                  step,
                  mtp)));
      if (reference != null && way != Way.LAUNCHES) {
        int differ = 0;
        for (Run run : r) {
          for (int s = 0; s < batch; s++) {
            differ += Arrays.equals(run.tokens()[s], reference.tokens()[s]) ? 0 : 1;
          }
        }
        out.add(
            CheckResult.exact(
                SECTION,
                "b" + batch + " " + way.label() + " tokens = launches'",
                differ,
                batch * r.size()));
      }
    }
    return out;
  }

  /**
   * Greedy generation of {@link #NEW_TOKENS} per prompt. With MTP, each step verifies the draft the
   * MTP module made from the previous step's rows: kept when the step's argmax at the last token
   * agrees with it (then the argmax after the draft is the next token too), else rolled back.
   */
  private Run generate(CudaEngine e, List<int[]> prompts, Way way) {
    int batch = prompts.size();
    e.useGraphs(way.graphs);
    List<CudaEngine.CudaSequence> seqs = new ArrayList<>();
    int[][] context = new int[batch][];
    int[] length = new int[batch];
    int[] made = new int[batch];
    int[] draft = new int[batch];
    List<int[]> feed = new ArrayList<>();
    for (int s = 0; s < batch; s++) {
      seqs.add(e.newSequence());
      context[s] = Arrays.copyOf(prompts.get(s), PROMPT + NEW_TOKENS + 1);
      length[s] = PROMPT;
      draft[s] = -1;
      feed.add(prompts.get(s));
    }
    List<Double> stepMs = new ArrayList<>();
    int steps = 0;
    int drafted = 0;
    int accepted = 0;
    long started = System.nanoTime();
    while (true) {
      List<Integer> active = new ArrayList<>();
      for (int s = 0; s < batch; s++) {
        if (made[s] < NEW_TOKENS) {
          active.add(s);
        }
      }
      if (active.isEmpty()) {
        break;
      }
      List<CudaEngine.CudaSequence> stepSeqs = active.stream().map(seqs::get).toList();
      List<int[]> stepTokens = active.stream().map(feed::get).toList();
      long t0 = System.nanoTime();
      int[] argmax = e.stepGreedy(stepSeqs, stepTokens);
      int rows = argmax.length;
      float[][] hidden = way.mtp ? e.hidden(rows) : null;
      List<CudaEngine.CudaSequence> mtpSeqs = new ArrayList<>();
      List<float[][]> mtpHidden = new ArrayList<>();
      List<int[]> mtpNext = new ArrayList<>();
      List<Integer> mtpOf = new ArrayList<>();
      int row = 0;
      for (int i = 0; i < active.size(); i++) {
        int s = active.get(i);
        CudaEngine.CudaSequence seq = seqs.get(s);
        int k = stepTokens.get(i).length;
        int before = seq.length() - k;
        if (draft[s] < 0) {
          context[s][length[s]++] = argmax[row + k - 1];
          made[s]++;
        } else if (argmax[row] == draft[s]) {
          accepted++;
          context[s][length[s]++] = draft[s];
          made[s]++;
          if (made[s] < NEW_TOKENS) {
            context[s][length[s]++] = argmax[row + 1];
            made[s]++;
          }
        } else {
          e.truncate(seq, seq.length() - 1); // the draft's row leaves no trace
          context[s][length[s]++] = argmax[row];
          made[s]++;
        }
        draft[s] = -1;
        if (way.mtp && made[s] < NEW_TOKENS) {
          // MTP entry j pairs hidden state j with token j+1: feed those not yet fed.
          int fed = seq.mtpLength();
          int n = seq.length() - fed;
          float[][] h = new float[n][];
          int[] next = new int[n];
          for (int j = 0; j < n; j++) {
            h[j] = hidden[row + fed - before + j];
            next[j] = context[s][fed + j + 1];
          }
          mtpSeqs.add(seq);
          mtpHidden.add(h);
          mtpNext.add(next);
          mtpOf.add(s);
        }
        row += k;
      }
      if (!mtpSeqs.isEmpty()) {
        int[] drafts = e.mtpGreedy(mtpSeqs, mtpHidden, mtpNext);
        for (int i = 0; i < drafts.length; i++) {
          draft[mtpOf.get(i)] = drafts[i];
          drafted++;
        }
      }
      for (int s : active) {
        int last = context[s][length[s] - 1];
        feed.set(s, draft[s] < 0 ? new int[] {last} : new int[] {last, draft[s]});
      }
      if (steps > 0) {
        stepMs.add((System.nanoTime() - t0) / 1e6);
      }
      steps++;
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    int[][] tokens = new int[batch][];
    for (int s = 0; s < batch; s++) {
      tokens[s] = Arrays.copyOfRange(context[s], PROMPT, PROMPT + NEW_TOKENS);
      e.release(seqs.get(s));
    }
    e.useGraphs(false);
    double median = median(stepMs.stream().mapToDouble(Double::doubleValue).toArray());
    return new Run(tokens, seconds, median, steps, drafted, accepted);
  }

  /**
   * Where a decode step's time goes: the GPU time of its graph's replay (kernels back to back)
   * against the step's wall time launched one by one and from a graph (measured by {@link #batch}
   * before); and the kernels' own times launched one by one, which include the GPU's wait for each
   * launch.
   */
  List<CheckResult> split(int batch) {
    CudaEngine e = engine();
    List<int[]> prompts = prompts(batch);
    List<CudaEngine.CudaSequence> seqs = new ArrayList<>();
    for (int s = 0; s < batch; s++) {
      seqs.add(e.newSequence());
    }
    int[] argmax = e.stepGreedy(seqs, prompts);
    int[] next = new int[batch];
    for (int s = 0; s < batch; s++) {
      next[s] = argmax[s * PROMPT + PROMPT - 1];
    }
    long launchesBefore = device.launches();
    next = e.stepGreedy(seqs, decodeRows(next));
    long launches = device.launches() - launchesBefore;
    int[][] feed = {next};
    int steps = 3;
    Runnable decode =
        () -> {
          for (int i = 0; i < steps; i++) {
            feed[0] = e.stepGreedy(seqs, decodeRows(feed[0]));
          }
        };
    Map<String, Double> launched = device.profile(decode);
    e.useGraphs(true);
    feed[0] = e.stepGreedy(seqs, decodeRows(feed[0])); // captures
    Map<String, Double> graphed = device.profile(decode);
    e.useGraphs(false);
    seqs.forEach(e::release);
    double graphMs = graphed.values().stream().mapToDouble(Double::doubleValue).sum() / steps;
    double kernelMs = launched.values().stream().mapToDouble(Double::doubleValue).sum() / steps;
    String top =
        launched.entrySet().stream()
            .sorted((x, y) -> Double.compare(y.getValue(), x.getValue()))
            .limit(5)
            .map(x -> String.format(Locale.ROOT, "%s %.3f", x.getKey(), x.getValue() / steps))
            .collect(Collectors.joining(", "));
    double[] wall = stepMs.getOrDefault(batch, new double[] {Double.NaN, Double.NaN});
    return List.of(
        CheckResult.info(
            SECTION,
            "brown-mtp device b" + batch + " step split",
            String.format(
                Locale.ROOT,
                "step %.3f ms launched (%d launches, %.3f ms of them at the empty-launch cost),"
                    + " %.3f ms from a graph; on the GPU the graph takes %.3f ms; kernels launched"
                    + " one by one %.3f ms with the waits for their launches, top ms: %s",
                wall[0],
                launches,
                launches * launchUs.getAsDouble() / 1e3,
                wall[1],
                graphMs,
                kernelMs,
                top)));
  }

  private static List<int[]> decodeRows(int[] next) {
    List<int[]> rows = new ArrayList<>();
    for (int t : next) {
      rows.add(new int[] {t});
    }
    return rows;
  }

  private static double median(double[] v) {
    if (v.length == 0) {
      return Double.NaN;
    }
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
