package io.latentstream.engine;

import io.latentstream.sampling.SamplingParams;

/**
 * One sequence's part of a batched step: the new tokens (1 for decoding, many for prefill or
 * speculative verification), which positions it wants, and whether the engine chooses their tokens
 * itself.
 *
 * @param choice null to get the positions' logits; else the engine draws each position's token and
 *     returns only the ids and their logprobs ({@link StepResult#tokens}): on a GPU the logits then
 *     stay on the device
 */
public record StepRequest(Sequence sequence, int[] tokens, Logits logits, Choice choice) {
  /** Which positions of the request get logits (or chosen tokens). */
  public enum Logits {
    ALL,
    LAST,
    NONE
  }

  /**
   * How the engine chooses tokens: the r-th returned position's token is drawn as {@link
   * io.latentstream.sampling.Sampler} draws the generation's token {@code firstIndex + r}, and its
   * logprob is {@link io.latentstream.sampling.TokenDistribution#logprob}'s (temperature 1).
   */
  public record Choice(SamplingParams params, int firstIndex) {}

  public StepRequest {
    if (tokens.length == 0) {
      throw new IllegalArgumentException("a step request needs at least one token");
    }
  }

  /** A request for logits. */
  public StepRequest(Sequence sequence, int[] tokens, Logits logits) {
    this(sequence, tokens, logits, null);
  }
}
