package io.latentstream.model;

import io.latentstream.backend.Kernels;

/** The position-wise sublayer after attention: a dense {@link MLP} or a {@link MoE}. */
public interface FeedForward {
  /** Reads ws.xn (T rows), writes ws.out. */
  void forward(Kernels k, Workspace ws, int rows, int layer, Trace trace);
}
