package io.latentstream.model;

/** RMSNorm (Zhang and Sennrich 2019): x / sqrt(mean(x^2) + eps) * weight, in fp32. */
public record RMSNorm(float[] weight, float eps) {
  public int dim() {
    return weight.length;
  }

  /** Normalizes n rows of width dim, read at stride xStride and written at stride yStride. */
  public void apply(float[] x, int xOff, int xStride, float[] y, int yOff, int yStride, int n) {
    int d = weight.length;
    for (int t = 0; t < n; t++) {
      int xi = xOff + t * xStride;
      int yi = yOff + t * yStride;
      float ss = 0;
      for (int i = 0; i < d; i++) {
        ss += x[xi + i] * x[xi + i];
      }
      float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
      for (int i = 0; i < d; i++) {
        y[yi + i] = weight[i] * (x[xi + i] * inv);
      }
    }
  }

  /** Normalizes n contiguous rows. */
  public void apply(float[] x, int xOff, float[] y, int yOff, int n) {
    apply(x, xOff, weight.length, y, yOff, weight.length, n);
  }
}
