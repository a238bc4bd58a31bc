package io.latentstream.sampling;

import io.latentstream.sampling.Philox.Draw;

/**
 * Chooses tokens for one request: plain sampling, and the speculative-sampling rule that verifies a
 * draft token against the main model (Leviathan et al. 2023, "Fast Inference from Transformers via
 * Speculative Decoding", Algorithm 1), which leaves the distribution of the output unchanged.
 *
 * <p>All randomness comes from {@link Philox} keyed by the request's seed and addressed by the
 * token's index in the generation, so replaying a request reproduces its tokens.
 */
public final class Sampler {
  private Sampler() {}

  /** A chosen token and whether it was an accepted draft. */
  public record Choice(int token, boolean acceptedDraft) {}

  /** The token at {@code index} of a generation, drawn from {@code target}. */
  public static int sample(TokenDistribution target, SamplingParams params, int index) {
    return target.sample(Philox.uniform(params.seed(), index, Draw.TOKEN));
  }

  /**
   * Verifies {@code draftToken}, proposed for position {@code index} by a drafter whose own
   * distribution there was {@code draft}. Accepts it with probability min(1, p(x) / q(x));
   * otherwise returns a token from norm(max(0, p - q)). For greedy requests both distributions are
   * one-hot, so the draft is accepted exactly when it equals the main model's argmax.
   */
  public static Choice verify(
      TokenDistribution target,
      TokenDistribution draft,
      int draftToken,
      SamplingParams params,
      int index) {
    double p = target.probability(draftToken);
    double q = draft.probability(draftToken);
    double u = Philox.uniform(params.seed(), index, Draw.ACCEPT_DRAFT);
    if (q > 0 && u < Math.min(1, p / q)) {
      return new Choice(draftToken, true);
    }
    double v = Philox.uniform(params.seed(), index, Draw.RESIDUAL);
    return new Choice(target.residual(draft).sample(v), false);
  }
}
