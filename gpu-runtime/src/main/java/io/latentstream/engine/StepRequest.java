package io.latentstream.engine;

/**
 * One sequence's part of a batched step: the new tokens (1 for decoding, many for prefill or
 * speculative verification) and which logits to return.
 */
public record StepRequest(Sequence sequence, int[] tokens, Logits logits) {
  /** Which positions of the request get logits. */
  public enum Logits {
    ALL,
    LAST,
    NONE
  }

  public StepRequest {
    if (tokens.length == 0) {
      throw new IllegalArgumentException("a step request needs at least one token");
    }
  }
}
