package io.latentstream.model;

/** The parts of a forward pass whose time the engine accounts separately (for metrics). */
public enum Phase {
  /** MLA: norms, projections, RoPE, the latent cache and attention, every layer. */
  ATTENTION,
  /** The feed-forward sublayer: routing and experts (MoE), or the dense MLP of the first layers. */
  FFN,
  /** The output head: logits over the vocabulary. */
  HEAD
}
