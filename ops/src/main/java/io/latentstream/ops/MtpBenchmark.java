package io.latentstream.ops;

import io.latentstream.engine.Engine;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Issue 6's benchmark: greedy generation at batch 1 (or with several requests at once) without MTP
 * drafting and with it (for each drafting setting asked for: draft vocabulary, minimum confidence),
 * on several prompts, all in one run with the variants interleaved. Reports the acceptance rate on
 * the model's own generations, main-model steps per token, tokens/s and the speed-up, and the step
 * costs measured inside those same generations that explain the gap to the ideal, the tokens per
 * main-model step (1 + acceptance when every step drafts): a verify step feeds two tokens, and
 * drafting adds an MTP pass to every step.
 */
final class MtpBenchmark {
  private final Engine engine;
  private final List<int[]> prompts;
  private final int newTokens;
  private final int concurrency;
  private final List<Drafting> drafters;

  /**
   * One drafting setting: the engine with its draft vocabulary (a view of the benchmark's engine),
   * and the pinned minimum confidence of a draft, or null for the loop's own gate.
   */
  record Drafting(Engine engine, Float minConfidence) {
    String describe() {
      return "draft vocabulary "
          + engine.draftVocab()
          + ", min confidence "
          + (minConfidence == null ? "from step costs" : String.format("%.2f", minConfidence));
    }
  }

  MtpBenchmark(
      Engine engine, List<int[]> prompts, int newTokens, int concurrency, List<Drafting> drafters) {
    if (concurrency < 1) {
      throw new IllegalArgumentException("--concurrency must be at least 1, not " + concurrency);
    }
    this.engine = engine;
    this.prompts = prompts;
    this.newTokens = newTokens;
    this.concurrency = concurrency;
    this.drafters = drafters;
  }

  /**
   * One generation run's totals over every prompt. Nanoseconds are summed over decode steps (1
   * token fed) and verify steps (2), separately: their forward passes, their MTP passes, and the
   * rest of the step (sampling or verifying, emitting); prefill steps are left out, being the same
   * in every mode.
   */
  private record Totals(
      long tokens,
      long drafted,
      long accepted,
      double seconds,
      long decodeSteps,
      long decodeNanos,
      long verifySteps,
      long verifyNanos,
      long draftNanos,
      long otherNanos) {
    double tokensPerSecond() {
      return tokens / seconds;
    }

    /**
     * Tokens one sequence gains per main-model step it takes part in: each such step samples one
     * token, plus the draft when accepted. At batch 1 it is tokens per step.
     */
    double tokensPerSequenceStep() {
      return (double) tokens / (tokens - accepted);
    }

    double acceptance() {
      return (double) accepted / drafted;
    }

    double decodeMicros() {
      return decodeNanos / 1e3 / Math.max(1, decodeSteps);
    }

    double verifyMicros() {
      return verifyNanos / 1e3 / Math.max(1, verifySteps);
    }

    double draftMicros() {
      return draftNanos / 1e3 / Math.max(1, decodeSteps + verifySteps);
    }

    double otherMicros() {
      return otherNanos / 1e3 / Math.max(1, decodeSteps + verifySteps);
    }
  }

  /**
   * Each repetition runs, for each drafting setting, a generation without MTP and then one with it:
   * on a shared machine whose speed drifts, each speed-up is the ratio of two adjacent runs, and
   * the figures are medians of those pairs.
   */
  void run(PrintWriter out, int warmup, int reps) {
    for (int r = 0; r < warmup; r++) {
      generate(null);
      drafters.forEach(this::generate);
    }
    List<Totals> plain = new ArrayList<>();
    List<List<Totals>> drafted = new ArrayList<>();
    drafters.forEach(d -> drafted.add(new ArrayList<>()));
    double[][] speedups = new double[drafters.size()][reps];
    for (int r = 0; r < reps; r++) {
      for (int d = 0; d < drafters.size(); d++) {
        Totals off = generate(null);
        Totals on = generate(drafters.get(d));
        plain.add(off);
        drafted.get(d).add(on);
        speedups[d][r] = on.tokensPerSecond() / off.tokensPerSecond();
      }
    }
    out.printf(
        concurrency == 1
            ? "MTP, batch 1, greedy, %d new tokens on %d prompts (medians of %d runs, %d without"
                + " MTP; step costs are means within the median run)%n"
            : "MTP, greedy, %d new tokens on %d prompts, "
                + 4 * concurrency
                + " requests, "
                + concurrency
                + " at once (medians of %d runs, %d without MTP)%n",
        newTokens,
        prompts.size(),
        reps,
        plain.size());
    Totals off = median(plain);
    out.printf("  without MTP: %.0f tokens/s", off.tokensPerSecond());
    if (concurrency == 1) {
      out.printf(
          "; per step: forward %.0f us, rest %.0f us", off.decodeMicros(), off.otherMicros());
    }
    out.println();
    for (int d = 0; d < drafters.size(); d++) {
      Totals on = median(drafted.get(d));
      double acceptance = on.acceptance();
      double[] sorted = speedups[d].clone();
      Arrays.sort(sorted);
      double speedup = sorted[reps / 2];
      Drafting drafting = drafters.get(d);
      out.printf(
          "  with MTP, %s: %.0f tokens/s, speed-up %.2fx"
              + " (paired runs %.2f to %.2f; ideal = tokens per sequence step = %.2fx);"
              + " acceptance %.3f (%d of %d drafts); main-model steps per token (per sequence) %.3f%n",
          drafting.describe(),
          on.tokensPerSecond(),
          speedup,
          sorted[0],
          sorted[reps - 1],
          on.tokensPerSequenceStep(),
          acceptance,
          on.accepted(),
          on.drafted(),
          1 / on.tokensPerSequenceStep());
      if (concurrency == 1) {
        out.printf(
            "    per step: forward %.0f us (verify, %d steps; decode %.0f us, %d steps),"
                + " MTP draft %.0f us, rest %.0f us%n",
            on.verifyMicros(),
            on.verifySteps(),
            on.decodeMicros(),
            on.decodeSteps(),
            on.draftMicros(),
            on.otherMicros());
      }
      out.printf(
          "{\"draft_vocab\":%d,\"min_confidence\":%s,\"mtp_acceptance\":%.3f,"
              + "\"tok_s_mtp\":%.0f,\"tok_s_plain\":%.0f,\"speedup\":%.2f}%n",
          drafting.engine().draftVocab(),
          drafting.minConfidence() == null ? "null" : drafting.minConfidence().toString(),
          acceptance,
          on.tokensPerSecond(),
          off.tokensPerSecond(),
          speedup);
    }
  }

  /**
   * Generates every prompt at batch 1, or four requests per concurrent slot through one loop,
   * drafting as {@code drafting} says, or without MTP if null.
   */
  private Totals generate(Drafting drafting) {
    long[] tokens = {0};
    long[] drafts = {0};
    long[] accepted = {0};
    // decode steps, their forward nanos, verify steps, theirs, MTP nanos, the rest of the steps
    long[] sums = new long[6];
    GenerationListener listener =
        new GenerationListener() {
          @Override
          public void onToken(TokenEmission token) {
            tokens[0]++;
          }

          @Override
          public void onFinished(GenerationOutcome outcome) {
            drafts[0] += outcome.drafted();
            accepted[0] += outcome.accepted();
          }
        };
    GenerationLoop.StepObserver observer =
        step -> {
          if (step.tokens() > 2) {
            return;
          }
          int kind = step.tokens() == 1 ? 0 : 2;
          sums[kind]++;
          sums[kind + 1] += step.forwardNanos();
          sums[4] += step.draftNanos();
          sums[5] += step.totalNanos() - step.forwardNanos() - step.draftNanos();
        };
    long start = System.nanoTime();
    // At batch 1 each prompt gets a loop of its own; above, one loop takes every request.
    int loops = concurrency == 1 ? prompts.size() : 1;
    int requestsPerLoop = concurrency == 1 ? 1 : 4 * concurrency;
    for (int l = 0; l < loops; l++) {
      // No tokenizer: no EOS, so every prompt runs its full length in every mode.
      try (GenerationLoop loop =
          new GenerationLoop(
              drafting == null ? engine : drafting.engine(),
              null,
              new GenerationLoop.Settings(concurrency, 512, drafting != null))) {
        loop.observe(observer);
        if (drafting != null && drafting.minConfidence() != null) {
          loop.pinDraftConfidence(drafting.minConfidence());
        }
        for (int r = 0; r < requestsPerLoop; r++) {
          int i = (l + r) % prompts.size();
          loop.submit(
              GenerationRequest.of(
                  "p" + l + "-" + r, prompts.get(i), SamplingParams.greedy(newTokens)),
              listener);
        }
        loop.runUntilIdle();
      }
    }
    return new Totals(
        tokens[0],
        drafts[0],
        accepted[0],
        (System.nanoTime() - start) / 1e9,
        sums[0],
        sums[1],
        sums[2],
        sums[3],
        sums[4],
        sums[5]);
  }

  /** The run of median tokens/s. */
  private static Totals median(List<Totals> runs) {
    Totals[] sorted = runs.toArray(Totals[]::new);
    Arrays.sort(sorted, (a, b) -> Double.compare(a.tokensPerSecond(), b.tokensPerSecond()));
    return sorted[sorted.length / 2];
  }
}
