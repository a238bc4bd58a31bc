package io.latentstream.model;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * How many token rows the router sent to each routed expert of each MoE layer since load: the
 * balance that auxiliary-loss-free routing (DeepSeek-V3 paper, section 2.1.2) is meant to keep.
 * Counted by {@link MoE#forward} once per expert per step (no allocation); read from any thread.
 * The MTP block, when the model has one, is the last layer (index {@code num_hidden_layers}).
 */
public final class ExpertLoad {
  private final int[] layers;
  private final AtomicLongArray[] routed;

  /** No layer counted: for an engine that does not count. */
  public static final ExpertLoad NONE = new ExpertLoad(new int[0], new AtomicLongArray[0]);

  ExpertLoad(int[] layers, AtomicLongArray[] routed) {
    this.layers = layers;
    this.routed = routed;
  }

  /** How many MoE layers are counted. */
  public int layerCount() {
    return layers.length;
  }

  /** The model layer index of the i-th counted MoE layer. */
  public int layer(int i) {
    return layers[i];
  }

  /** Routed experts per layer. */
  public int experts() {
    return routed.length == 0 ? 0 : routed[0].length();
  }

  /** Token rows routed to {@code expert} of the i-th counted layer since load. */
  public long routed(int i, int expert) {
    return routed[i].get(expert);
  }
}
