package io.latentstream.sampling;

/**
 * Draws a request's tokens. All randomness comes from {@link Philox} keyed by the request's seed
 * and addressed by the token's index in the generation, so a request's tokens do not depend on its
 * batch, and replaying or resuming a request reproduces them. Speculative verification uses the
 * same draw (see the scheduler's {@code Generation}): a draft is accepted exactly when this draw
 * picks it, so output is the same with drafting on or off.
 */
public final class Sampler {
  private Sampler() {}

  /** The token at {@code index} of a generation, drawn from {@code target}. */
  public static int sample(TokenDistribution target, SamplingParams params, int index) {
    return target.sample(Philox.uniform(params.seed(), index));
  }

  /**
   * The token at {@code index} of a generation from one position's logits: the argmax for greedy
   * requests, else a draw from the distribution {@code params} derive.
   */
  public static int choose(float[] logits, SamplingParams params, int index) {
    TokenDistribution distribution = TokenDistribution.of(logits, params);
    return params.isGreedy() ? distribution.mode() : sample(distribution, params, index);
  }
}
