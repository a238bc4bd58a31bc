package io.latentstream.model;

import io.latentstream.backend.Kernels;

/** SwiGLU feed-forward w2(silu(w1 x) * w3 x): dense layers, experts and shared experts. */
public record MLP(Linear w1, Linear w3, Linear w2) implements FeedForward {
  public int inter() {
    return w1.out();
  }

  @Override
  public void forward(Kernels k, Workspace ws, int rows, int layer, Trace trace) {
    apply(k, ws.xn, 0, rows, ws.g, ws.u, 0, ws.out, 0);
  }

  /** Runs n rows of x through the MLP into y, with g and u from hOff as [n, inter] scratch. */
  public void apply(
      Kernels k, float[] x, int xOff, int n, float[] g, float[] u, int hOff, float[] y, int yOff) {
    w1.apply(k, x, xOff, n, g, hOff);
    w3.apply(k, x, xOff, n, u, hOff);
    k.swiglu(g, u, hOff, n * inter());
    w2.apply(k, g, hOff, n, y, yOff);
  }
}
