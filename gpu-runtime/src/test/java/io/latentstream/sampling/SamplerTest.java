package io.latentstream.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final int VOCAB = 12;

  private static float[] randomLogits(long seed) {
    Random random = new Random(seed);
    float[] logits = new float[VOCAB];
    for (int i = 0; i < VOCAB; i++) {
      logits[i] = (float) (random.nextGaussian() * 2);
    }
    return logits;
  }

  private static SamplingParams sampling(double temperature, double topP, int topK, long seed) {
    return new SamplingParams(temperature, topP, topK, seed, 16, List.of());
  }

  @Test
  void greedyIsTheArgmaxWithLowerIdOnTies() {
    float[] logits = {0.5f, 3f, -1f, 3f};
    TokenDistribution greedy = TokenDistribution.of(logits, SamplingParams.greedy(4));
    assertEquals(1, greedy.mode());
    assertEquals(1.0, greedy.probability(1));
    assertEquals(0.0, greedy.probability(3));
  }

  @Test
  void topKAndTopPKeepTheMostProbableTokens() {
    float[] logits = {4f, 3f, 2f, 1f, 0f};
    TokenDistribution topTwo = TokenDistribution.of(logits, sampling(1, 1, 2, 0));
    assertTrue(topTwo.probability(0) > 0 && topTwo.probability(1) > 0);
    assertEquals(0.0, topTwo.probability(2));
    assertEquals(1.0, topTwo.probability(0) + topTwo.probability(1), 1e-12);

    // softmax([4,3,2,1,0]) = [0.636, 0.234, 0.086, 0.032, 0.012]: 0.8 needs the first two.
    TokenDistribution nucleus = TokenDistribution.of(logits, sampling(1, 0.8, 0, 0));
    assertTrue(nucleus.probability(1) > 0);
    assertEquals(0.0, nucleus.probability(2));
  }

  @Test
  void logprobIsTheModelsLogSoftmax() {
    float[] logits = {1f, 2f, 3f};
    double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    assertEquals(Math.log(Math.exp(2) / z), TokenDistribution.logprob(logits, 1), 1e-6);
  }

  @Test
  void samplingFollowsTheDistribution() {
    float[] logits = randomLogits(1);
    SamplingParams params = sampling(0.9, 1, 0, 77);
    TokenDistribution p = TokenDistribution.of(logits, params);
    int n = 100_000;
    int[] counts = new int[VOCAB];
    for (int index = 0; index < n; index++) {
      counts[Sampler.sample(p, params, index)]++;
    }
    assertFitsDistribution(counts, p, n);
  }

  /**
   * The verification rule the generation loop uses for MTP's one-token drafts: draw the position's
   * token from p with its own draw and accept the draft exactly when they agree. The output is
   * distributed as p whatever the drafts, and a draft d is accepted with probability p(d), as the
   * speculative-sampling rule min(1, p(d) / q(d)) gives for a one-hot drafter.
   */
  @Test
  void acceptingADraftWhenThePositionsDrawPicksItKeepsPAndTheSpeculativeAcceptanceRate() {
    SamplingParams params = sampling(1.0, 0.95, 0, 5);
    TokenDistribution p = TokenDistribution.of(randomLogits(2), params);
    TokenDistribution drafter = TokenDistribution.of(randomLogits(3), sampling(1.3, 1, 0, 0));
    int n = 200_000;
    int[] counts = new int[VOCAB];
    int accepted = 0;
    double expectedAccepted = 0;
    for (int index = 0; index < n; index++) {
      int draft = drafter.sample(Philox.uniform(999, index));
      int token = Sampler.sample(p, params, index);
      counts[token]++;
      accepted += token == draft ? 1 : 0;
      expectedAccepted += p.probability(draft);
    }
    assertFitsDistribution(counts, p, n);
    // Bernoulli sum: within 5 standard deviations (sd <= sqrt(n) / 2).
    assertEquals(expectedAccepted, accepted, 5 * Math.sqrt(n) / 2);
  }

  /** Pearson's chi-square over the support of p; 0.9999 quantiles keep a fixed-seed test robust. */
  private static void assertFitsDistribution(int[] counts, TokenDistribution p, int n) {
    double chiSquare = 0;
    int cells = 0;
    for (int token = 0; token < VOCAB; token++) {
      double expected = p.probability(token) * n;
      if (expected == 0) {
        assertEquals(0, counts[token], "token " + token + " is outside the distribution");
        continue;
      }
      chiSquare += (counts[token] - expected) * (counts[token] - expected) / expected;
      cells++;
    }
    // 0.9999 quantile of chi-square with up to 11 degrees of freedom is below 37.
    assertTrue(chiSquare < 37, "chi-square " + chiSquare + " over " + cells + " cells");
  }
}
