package io.latentstream.sampling;

import java.util.Arrays;

/**
 * The distribution a request samples its next token from: the model's logits after temperature,
 * top-k and top-p, kept as the surviving tokens in descending probability (ties: lower id first).
 *
 * <p>Every sum runs in a fixed order over the vocabulary, so the same logits and parameters give
 * bitwise the same distribution wherever they are computed. Greedy decoding is the one-hot
 * distribution on the argmax, which makes greedy speculative verification a special case of the
 * general rule.
 */
public final class TokenDistribution {
  private final int[] tokens;
  private final double[] probabilities;

  private TokenDistribution(int[] tokens, double[] probabilities) {
    this.tokens = tokens;
    this.probabilities = probabilities;
  }

  /** The distribution that {@code params} derives from one position's {@code logits}. */
  public static TokenDistribution of(float[] logits, SamplingParams params) {
    if (params.isGreedy()) {
      return oneHot(argmax(logits));
    }
    double[] p = softmax(logits, params.temperature());
    long[] candidates = candidates(p, params.topP());
    Arrays.sort(candidates);
    int kept = candidates.length;
    if (params.topK() > 0) {
      kept = Math.min(kept, params.topK());
    }
    if (params.topP() < 1) {
      kept = Math.min(kept, nucleusSize(candidates, kept, p, params.topP()));
    }
    int[] ids = new int[kept];
    double[] probs = new double[kept];
    double mass = 0;
    for (int i = 0; i < kept; i++) {
      ids[i] = tokenOf(candidates[i]);
      probs[i] = p[ids[i]];
      mass += probs[i];
    }
    for (int i = 0; i < kept; i++) {
      probs[i] /= mass;
    }
    return new TokenDistribution(ids, probs);
  }

  /** The distribution that puts all its mass on {@code token}. */
  public static TokenDistribution oneHot(int token) {
    return new TokenDistribution(new int[] {token}, new double[] {1.0});
  }

  /** The most probable token; ties go to the lower id, as in PyTorch's argmax. */
  public static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * log softmax(logits)[token]: the model's own log-probability of a token, at temperature 1.
   * Scalar on purpose: the Vector API's EXP gives other bits interpreted than compiled, which broke
   * the batch-invariance test; Math.exp is the same in both.
   */
  public static float logprob(float[] logits, int token) {
    double max = Double.NEGATIVE_INFINITY;
    for (float logit : logits) {
      max = Math.max(max, logit);
    }
    double sum = 0;
    for (float logit : logits) {
      sum += Math.exp(logit - max);
    }
    return (float) (logits[token] - max - Math.log(sum));
  }

  /** Inverse-CDF sampling with a uniform {@code u} in [0, 1). */
  public int sample(double u) {
    double cumulative = 0;
    for (int i = 0; i < tokens.length; i++) {
      cumulative += probabilities[i];
      if (u < cumulative) {
        return tokens[i];
      }
    }
    return tokens[tokens.length - 1]; // u within rounding of 1
  }

  /** The probability of {@code token} (0 when it was filtered out). */
  public double probability(int token) {
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i] == token) {
        return probabilities[i];
      }
    }
    return 0;
  }

  /** The most probable token of this distribution. */
  public int mode() {
    return tokens[0];
  }

  private static double[] softmax(float[] logits, double temperature) {
    double max = Double.NEGATIVE_INFINITY;
    for (float logit : logits) {
      max = Math.max(max, logit);
    }
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
    return p;
  }

  /**
   * Tokens that can still be in the nucleus, as sort keys. A token with p &lt; (1 - topP) / V has
   * more than topP of the mass above it, so the nucleus closes before reaching it; skipping those
   * keeps the sort small on a 129K vocabulary without changing the result.
   */
  private static long[] candidates(double[] p, double topP) {
    double floor = topP < 1 ? (1 - topP) / p.length : 0;
    long[] keys = new long[p.length];
    int n = 0;
    for (int token = 0; token < p.length; token++) {
      if (p[token] >= floor && p[token] > 0) {
        keys[n++] = sortKey((float) p[token], token);
      }
    }
    return Arrays.copyOf(keys, n);
  }

  /** Ascending order of the key is descending probability, then ascending token id. */
  private static long sortKey(float probability, int token) {
    long descending = 0x7FFFFFFFL - Float.floatToIntBits(probability);
    return (descending << 32) | token;
  }

  private static int tokenOf(long key) {
    return (int) key;
  }

  /** The smallest prefix of the sorted candidates whose mass reaches topP of the kept mass. */
  private static int nucleusSize(long[] sorted, int kept, double[] p, double topP) {
    double total = 0;
    for (int i = 0; i < kept; i++) {
      total += p[tokenOf(sorted[i])];
    }
    double cumulative = 0;
    for (int i = 0; i < kept; i++) {
      cumulative += p[tokenOf(sorted[i])];
      if (cumulative >= topP * total) {
        return i + 1;
      }
    }
    return kept;
  }
}
