package io.latentstream.engine;

import io.latentstream.sampling.Sampler;
import io.latentstream.sampling.TokenDistribution;

/**
 * The outcome of a {@link StepRequest}.
 *
 * @param logits [rows, vocab]: one row per new token (ALL), only the last (LAST), or none; null
 *     when the engine chose the tokens
 * @param hidden final-norm hidden states of every new token (MTP input); on a device, valid until
 *     the engine's next step
 * @param tokens with a {@link StepRequest.Choice}: the token chosen at each of those rows; else
 *     null
 * @param logprobs with a choice: each chosen token's logprob; else null
 */
public record StepResult(float[][] logits, HiddenStates hidden, int[] tokens, float[] logprobs) {
  /** The logits a request asked for. */
  public StepResult(float[][] logits, HiddenStates hidden) {
    this(logits, hidden, null, null);
  }

  /**
   * The tokens {@code choice} gives for rows of logits, drawn on the host (the CPU engine's way;
   * the CUDA engine's kernels do the same on the device).
   */
  public static StepResult chosen(
      float[][] logits, HiddenStates hidden, StepRequest.Choice choice) {
    int[] tokens = new int[logits.length];
    float[] logprobs = new float[logits.length];
    for (int r = 0; r < logits.length; r++) {
      tokens[r] = Sampler.choose(logits[r], choice.params(), choice.firstIndex() + r);
      logprobs[r] = TokenDistribution.logprob(logits[r], tokens[r]);
    }
    return new StepResult(null, hidden, tokens, logprobs);
  }
}
