package io.latentstream.ops;

import io.latentstream.engine.Engine;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;

/**
 * Issue 6's benchmark: greedy generation at batch 1 with and without MTP drafting, on several
 * prompts, both in one run. Reports the acceptance rate on the model's own generations, main-model
 * steps per token, tokens/s and the speed-up, and the step costs that explain the gap to the ideal
 * (1 + acceptance) x: a verify step feeds two tokens, and drafting adds an MTP pass.
 */
final class MtpBenchmark {
  private final Engine engine;
  private final List<int[]> prompts;
  private final int newTokens;

  MtpBenchmark(Engine engine, List<int[]> prompts, int newTokens) {
    this.engine = engine;
    this.prompts = prompts;
    this.newTokens = newTokens;
  }

  /** One mode's totals over every prompt. */
  private record Totals(long tokens, long steps, long drafted, long accepted, double seconds) {}

  void run(PrintWriter out, int warmup, int reps) {
    for (int r = 0; r < warmup; r++) {
      generate(false);
      generate(true);
    }
    double[] plain = new double[reps];
    double[] drafted = new double[reps];
    Totals on = null;
    Totals off = null;
    for (int r = 0; r < reps; r++) {
      off = generate(false);
      on = generate(true);
      plain[r] = off.tokens() / off.seconds();
      drafted[r] = on.tokens() / on.seconds();
    }
    double acceptance = (double) on.accepted() / on.drafted();
    double offTps = median(plain);
    double onTps = median(drafted);
    out.printf(
        "MTP, batch 1, greedy, %d new tokens on %d prompts (medians of %d runs)%n",
        newTokens, prompts.size(), reps);
    out.printf(
        "  acceptance %.3f (%d of %d drafts); main-model steps per token: %.3f with MTP, %.3f without%n",
        acceptance,
        on.accepted(),
        on.drafted(),
        (double) on.steps() / on.tokens(),
        (double) off.steps() / off.tokens());
    out.printf(
        "  tokens/s: %.0f with MTP, %.0f without: speed-up %.2fx (ideal %.2fx)%n",
        onTps, offTps, onTps / offTps, 1 + acceptance);
    StepCosts costs = stepCosts(reps);
    out.printf(
        "  step costs: decode 1 token %.0f us, verify 2 tokens %.0f us, MTP draft %.0f us%n",
        costs.decodeOne(), costs.verifyTwo(), costs.draft());
    double predicted = costs.decodeOne() / ((costs.verifyTwo() + costs.draft()) / (1 + acceptance));
    out.printf(
        "  predicted speed-up from step costs: %.2fx = %.0f / ((%.0f + %.0f) / %.3f)%n",
        predicted, costs.decodeOne(), costs.verifyTwo(), costs.draft(), 1 + acceptance);
    out.printf(
        "{\"mtp_acceptance\":%.3f,\"tok_s_mtp\":%.0f,\"tok_s_plain\":%.0f,\"speedup\":%.2f}%n",
        acceptance, onTps, offTps, onTps / offTps);
  }

  private Totals generate(boolean mtp) {
    long[] tokens = {0};
    long[] drafts = {0};
    long[] accepted = {0};
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
    long steps = 0;
    long start = System.nanoTime();
    for (int i = 0; i < prompts.size(); i++) {
      // No tokenizer: no EOS, so every prompt runs its full length in both modes.
      try (GenerationLoop loop =
          new GenerationLoop(engine, null, new GenerationLoop.Settings(1, 512, mtp))) {
        loop.submit(
            GenerationRequest.of("p" + i, prompts.get(i), SamplingParams.greedy(newTokens)),
            listener);
        loop.runUntilIdle();
        steps += loop.stats().steps();
      }
    }
    return new Totals(tokens[0], steps, drafts[0], accepted[0], (System.nanoTime() - start) / 1e9);
  }

  /** Mean microseconds of the three kinds of step, on a sequence 64 tokens into a prompt. */
  private record StepCosts(double decodeOne, double verifyTwo, double draft) {}

  private StepCosts stepCosts(int reps) {
    int n = 64 * reps;
    Sequence sequence = engine.newSequence();
    StepResult prefix =
        engine
            .step(List.of(new StepRequest(sequence, prompts.get(0), StepRequest.Logits.LAST)))
            .get(0);
    int length = sequence.length();
    long decode = 0;
    long verify = 0;
    long draft = 0;
    for (int i = 0; i < n; i++) {
      long t0 = System.nanoTime();
      engine.step(List.of(new StepRequest(sequence, new int[] {7}, StepRequest.Logits.LAST)));
      long t1 = System.nanoTime();
      sequence.truncate(length);
      engine.step(List.of(new StepRequest(sequence, new int[] {7, 9}, StepRequest.Logits.ALL)));
      long t2 = System.nanoTime();
      sequence.truncate(length);
      int mtpLength = sequence.mtpCache().length();
      engine.mtp(
          List.of(
              new MtpRequest(
                  sequence,
                  new float[][] {prefix.hidden()[prefix.hidden().length - 1]},
                  new int[] {7})));
      long t3 = System.nanoTime();
      sequence.mtpCache().truncate(mtpLength);
      decode += t1 - t0;
      verify += t2 - t1;
      draft += t3 - t2;
    }
    return new StepCosts(decode / 1e3 / n, verify / 1e3 / n, draft / 1e3 / n);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
