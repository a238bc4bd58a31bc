package io.latentstream.model;

/**
 * Decoupled rotary position embedding on qk_rope_head_dim values, rotating interleaved pairs
 * (x0,x1),(x2,x3)... as DeepSeek's complex-number form does, with YaRN when configured.
 *
 * <p>YaRN follows transformers' {@code _compute_yarn_parameters}: each frequency blends
 * interpolation (theta / factor) and extrapolation by a linear ramp between the correction dims of
 * beta_fast and beta_slow; cos and sin carry the attention factor mscale(factor, mscale) /
 * mscale(factor, mscale_all_dim) (the softmax side is in {@link ModelConfig#softmaxScale}).
 */
public final class Rope {
  private final float[] invFreq;
  private final float attentionFactor;

  public Rope(ModelConfig c) {
    int dim = c.qkRopeHeadDim();
    double base = c.ropeTheta();
    invFreq = new float[dim / 2];
    ModelConfig.Yarn y = c.ropeScaling();
    float[] ramp = new float[dim / 2];
    double attention = 1.0;
    if (y != null) {
      double low =
          Math.max(
              Math.floor(correctionDim(y.betaFast(), dim, base, y.originalMaxPositionEmbeddings())),
              0);
      double high =
          Math.min(
              Math.ceil(correctionDim(y.betaSlow(), dim, base, y.originalMaxPositionEmbeddings())),
              dim - 1);
      if (low == high) {
        high += 0.001;
      }
      for (int i = 0; i < dim / 2; i++) {
        ramp[i] = (float) Math.min(1, Math.max(0, (i - low) / (high - low)));
      }
      attention =
          y.mscale() != 0 && y.mscaleAllDim() != 0
              ? ModelConfig.yarnMscale(y.factor(), y.mscale())
                  / ModelConfig.yarnMscale(y.factor(), y.mscaleAllDim())
              : ModelConfig.yarnMscale(y.factor(), 1);
    }
    for (int i = 0; i < dim / 2; i++) {
      float posFreq = (float) Math.pow(base, (float) (2 * i) / dim);
      float extrapolation = 1f / posFreq;
      if (y == null) {
        invFreq[i] = extrapolation;
      } else {
        float interpolation = 1f / (float) (y.factor() * posFreq);
        float extrapolationWeight = 1 - ramp[i];
        invFreq[i] =
            interpolation * (1 - extrapolationWeight) + extrapolation * extrapolationWeight;
      }
    }
    attentionFactor = (float) attention;
  }

  private static double correctionDim(double rotations, int dim, double base, int maxPos) {
    return dim * Math.log(maxPos / (rotations * 2 * Math.PI)) / (2 * Math.log(base));
  }

  /** Fills cos and sin (each dim/2 at off) for a position, attention factor included. */
  public void angles(int pos, float[] cos, float[] sin, int off) {
    for (int i = 0; i < invFreq.length; i++) {
      float a = pos * invFreq[i];
      cos[off + i] = (float) Math.cos(a) * attentionFactor;
      sin[off + i] = (float) Math.sin(a) * attentionFactor;
    }
  }

  /** Rotates the dim values at x[off] in place by precomputed angles. */
  public void rotate(float[] x, int off, float[] cos, float[] sin, int aOff) {
    for (int i = 0; i < invFreq.length; i++) {
      float x0 = x[off + 2 * i];
      float x1 = x[off + 2 * i + 1];
      float c = cos[aOff + i];
      float s = sin[aOff + i];
      x[off + 2 * i] = x0 * c - x1 * s;
      x[off + 2 * i + 1] = x1 * c + x0 * s;
    }
  }
}
