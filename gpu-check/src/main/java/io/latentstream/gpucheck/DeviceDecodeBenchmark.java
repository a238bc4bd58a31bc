package io.latentstream.gpucheck;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.engine.Engine;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.engine.cuda.CudaEngine;
import io.latentstream.sampling.SamplingParams;
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
   * Greedy generation of {@link #NEW_TOKENS} per prompt through the Engine interface, as the
   * generation loop drives it: the engine chooses each token on the device (ids and logprobs come
   * back), and with MTP each step verifies the draft the MTP module made from the previous step's
   * hidden states, which stay on the device. A draft is kept when the step's token at its position
   * agrees with it (then the token after it is the next one too), else rolled back.
   */
  private Run generate(CudaEngine e, List<int[]> prompts, Way way) {
    int batch = prompts.size();
    e.useGraphs(way.graphs);
    List<Sequence> seqs = new ArrayList<>();
    int[][] context = new int[batch][];
    int[] length = new int[batch];
    int[] made = new int[batch];
    int[] draft = new int[batch];
    List<int[]> feed = new ArrayList<>();
    for (int s = 0; s < batch; s++) {
      seqs.add(e.newSequence());
      context[s] = Arrays.copyOf(prompts.get(s), PROMPT + NEW_TOKENS + 1);
      length[s] = PROMPT;
      draft[s] = Engine.NO_DRAFT;
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
      long t0 = System.nanoTime();
      List<StepRequest> requests = new ArrayList<>();
      for (int s : active) {
        requests.add(greedy(seqs.get(s), feed.get(s), draft[s] != Engine.NO_DRAFT, made[s]));
      }
      List<StepResult> results = e.step(requests);
      List<MtpRequest> mtp = new ArrayList<>();
      List<Integer> mtpOf = new ArrayList<>();
      for (int i = 0; i < active.size(); i++) {
        int s = active.get(i);
        Sequence seq = seqs.get(s);
        int[] chosen = results.get(i).tokens();
        int before = seq.length() - feed.get(s).length;
        if (draft[s] == Engine.NO_DRAFT) {
          context[s][length[s]++] = chosen[0];
          made[s]++;
        } else if (chosen[0] == draft[s]) {
          accepted++;
          context[s][length[s]++] = draft[s];
          made[s]++;
          if (made[s] < NEW_TOKENS) {
            context[s][length[s]++] = chosen[1];
            made[s]++;
          }
        } else {
          seq.truncate(seq.length() - 1); // the draft's row leaves no trace
          context[s][length[s]++] = chosen[0];
          made[s]++;
        }
        draft[s] = Engine.NO_DRAFT;
        if (way.mtp && made[s] < NEW_TOKENS) {
          // MTP entry j pairs hidden state j with token j+1: feed those not yet fed.
          int fed = seq.mtpLength();
          int n = seq.length() - fed;
          mtp.add(
              new MtpRequest(
                  seq,
                  results.get(i).hidden().slice(fed - before, fed - before + n),
                  Arrays.copyOfRange(context[s], fed + 1, fed + 1 + n)));
          mtpOf.add(s);
        }
      }
      if (!mtp.isEmpty()) {
        // No minimum confidence: every step drafts (over the engine's default draft vocabulary);
        // whether drafting pays is measured here, where the service's DraftGate would decide.
        int[] drafts = e.draft(mtp, 0f);
        for (int i = 0; i < drafts.length; i++) {
          draft[mtpOf.get(i)] = drafts[i];
          drafted++;
        }
      }
      for (int s : active) {
        int last = context[s][length[s] - 1];
        feed.set(s, draft[s] == Engine.NO_DRAFT ? new int[] {last} : new int[] {last, draft[s]});
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
      seqs.get(s).release();
    }
    e.useGraphs(false);
    double median = median(stepMs.stream().mapToDouble(Double::doubleValue).toArray());
    return new Run(tokens, seconds, median, steps, drafted, accepted);
  }

  /**
   * A step that chooses greedily: the last position's token, or with a draft both positions' (the
   * draft's own and the one after it); the generation's {@code made}-th token first.
   */
  private static StepRequest greedy(Sequence seq, int[] tokens, boolean verify, int made) {
    return new StepRequest(
        seq,
        tokens,
        verify ? StepRequest.Logits.ALL : StepRequest.Logits.LAST,
        new StepRequest.Choice(SamplingParams.greedy(NEW_TOKENS), made));
  }

  /** One greedy step of every sequence; each one's last chosen token. */
  private static int[] greedyStep(CudaEngine e, List<Sequence> seqs, List<int[]> tokens) {
    List<StepRequest> requests = new ArrayList<>();
    for (int s = 0; s < seqs.size(); s++) {
      requests.add(greedy(seqs.get(s), tokens.get(s), false, 0));
    }
    return e.step(requests).stream().mapToInt(r -> r.tokens()[r.tokens().length - 1]).toArray();
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
    List<Sequence> seqs = new ArrayList<>();
    for (int s = 0; s < batch; s++) {
      seqs.add(e.newSequence());
    }
    int[] next = greedyStep(e, seqs, prompts);
    long launchesBefore = device.launches();
    next = greedyStep(e, seqs, decodeRows(next));
    long launches = device.launches() - launchesBefore;
    int[][] feed = {next};
    int steps = 3;
    Runnable decode =
        () -> {
          for (int i = 0; i < steps; i++) {
            feed[0] = greedyStep(e, seqs, decodeRows(feed[0]));
          }
        };
    Map<String, Double> launched = device.profile(decode);
    e.useGraphs(true);
    feed[0] = greedyStep(e, seqs, decodeRows(feed[0])); // captures
    Map<String, Double> graphed = device.profile(decode);
    e.useGraphs(false);
    seqs.forEach(Sequence::release);
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
