package io.latentstream.model;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * How many token rows the router sent to each routed expert of each MoE layer since load: the
 * balance that auxiliary-loss-free routing (DeepSeek-V3 paper, section 2.1.2) is meant to keep.
 * Counted by {@link MoE#forward} once per expert per step (no allocation), or copied in from a
 * device's counters ({@link #counting}); read from any thread. The MTP block, when the model has
 * one, is the last layer (index {@code num_hidden_layers}).
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

  /**
   * Counters of these model layers for an engine that counts elsewhere (on a GPU) and copies its
   * running totals in with {@link #set}.
   */
  public static ExpertLoad counting(int[] layers, int experts) {
    AtomicLongArray[] routed = new AtomicLongArray[layers.length];
    for (int i = 0; i < routed.length; i++) {
      routed[i] = new AtomicLongArray(experts);
    }
    return new ExpertLoad(layers.clone(), routed);
  }

  /** Sets the i-th counted layer's totals, expert by expert, from {@code totals} at {@code off}. */
  public void set(int i, long[] totals, int off) {
    for (int e = 0; e < routed[i].length(); e++) {
      routed[i].set(e, totals[off + e]);
    }
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
