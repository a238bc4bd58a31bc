package io.latentstream.model;

import io.latentstream.backend.Kernels;
import io.latentstream.model.ModelConfig.ScoringFunc;
import io.latentstream.model.ModelConfig.TopkMethod;

/**
 * The DeepSeekMoE router with auxiliary-loss-free balancing (DeepSeek-V3 paper, eq. 12-16): the
 * bias {@code e_score_correction_bias} only steers which experts are chosen; their weights are the
 * unbiased scores, normalized (norm_topk_prob) and scaled by routed_scaling_factor. Group-limited:
 * groups ranked by the sum of their top-2 biased scores (V3) or their best score (V2), topk_group
 * groups kept.
 */
public final class Gate {
  private final Linear weight;
  private final float[] bias;
  private final int nExperts;
  private final int topK;
  private final int nGroup;
  private final int topkGroup;
  private final ScoringFunc scoring;
  private final TopkMethod method;
  private final boolean normTopkProb;
  private final float routedScalingFactor;

  public Gate(ModelConfig c, Linear weight, float[] bias) {
    this.weight = weight;
    this.bias = bias;
    this.nExperts = c.nRoutedExperts();
    this.topK = c.numExpertsPerTok();
    this.nGroup = c.nGroup();
    this.topkGroup = c.topkGroup();
    this.scoring = c.scoringFunc();
    this.method = c.topkMethod();
    this.normTopkProb = c.normTopkProb();
    this.routedScalingFactor = (float) c.routedScalingFactor();
  }

  /** Routes T rows of ws.xn into ws.chosen / ws.weights ([T, top_k]). */
  public void route(Kernels k, Workspace ws, int rows) {
    weight.apply(k, ws.xn, 0, rows, ws.scores, 0);
    routeScores(ws.scores, rows, ws.chosen, ws.weights);
  }

  /**
   * Routes rows by their router logits [rows, n_routed_experts] (overwritten with the scores) into
   * chosen and weights ([rows, top_k]); the reference the CUDA router is checked against.
   */
  public void routeScores(float[] scores, int rows, int[] chosen, float[] weights) {
    float[] choice = new float[nExperts];
    float[] groupScore = new float[nGroup];
    boolean[] keep = new boolean[nGroup];
    boolean[] taken = new boolean[nExperts];
    for (int t = 0; t < rows; t++) {
      route(scores, t * nExperts, choice, groupScore, keep, taken, chosen, weights, t * topK);
    }
  }

  private void route(
      float[] s,
      int off,
      float[] choice,
      float[] groupScore,
      boolean[] keep,
      boolean[] taken,
      int[] chosen,
      float[] weights,
      int outOff) {
    if (scoring == ScoringFunc.SIGMOID) {
      for (int e = 0; e < nExperts; e++) {
        s[off + e] = (float) (1 / (1 + Math.exp(-s[off + e])));
      }
    } else {
      float max = Float.NEGATIVE_INFINITY;
      for (int e = 0; e < nExperts; e++) {
        max = Math.max(max, s[off + e]);
      }
      float sum = 0;
      for (int e = 0; e < nExperts; e++) {
        s[off + e] = (float) Math.exp(s[off + e] - max);
        sum += s[off + e];
      }
      for (int e = 0; e < nExperts; e++) {
        s[off + e] /= sum;
      }
    }
    for (int e = 0; e < nExperts; e++) {
      choice[e] = s[off + e] + (method == TopkMethod.NOAUX_TC && bias != null ? bias[e] : 0f);
    }
    if (method != TopkMethod.GREEDY && nGroup > 1) {
      int per = nExperts / nGroup;
      for (int g = 0; g < nGroup; g++) {
        float best = Float.NEGATIVE_INFINITY;
        float second = Float.NEGATIVE_INFINITY;
        for (int e = g * per; e < (g + 1) * per; e++) {
          if (choice[e] > best) {
            second = best;
            best = choice[e];
          } else if (choice[e] > second) {
            second = choice[e];
          }
        }
        groupScore[g] = method == TopkMethod.NOAUX_TC ? best + second : best;
        keep[g] = false;
      }
      for (int i = 0; i < topkGroup; i++) {
        keep[argmax(groupScore, keep)] = true;
      }
      // transformers masks dropped groups with 0.0 (not -inf); matched so that ties and negative
      // biased scores pick the same experts as the reference.
      for (int e = 0; e < nExperts; e++) {
        if (!keep[e / per]) {
          choice[e] = 0f;
        }
      }
    }
    java.util.Arrays.fill(taken, false);
    float sum = 0;
    for (int i = 0; i < topK; i++) {
      int e = argmax(choice, taken);
      taken[e] = true;
      chosen[outOff + i] = e;
      weights[outOff + i] = s[off + e];
      sum += s[off + e];
    }
    for (int i = 0; i < topK; i++) {
      float w = weights[outOff + i];
      if (normTopkProb) {
        w /= sum + 1e-20f;
      }
      weights[outOff + i] = w * routedScalingFactor;
    }
  }

  /** Index of the largest value not yet excluded; the lowest index wins ties. */
  private static int argmax(float[] v, boolean[] excluded) {
    int best = -1;
    for (int i = 0; i < v.length; i++) {
      if (!excluded[i] && (best < 0 || v[i] > v[best])) {
        best = i;
      }
    }
    return best;
  }
}
