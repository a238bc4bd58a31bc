package io.latentstream.ops;

import io.latentstream.model.CheckpointLayout;
import io.latentstream.model.ModelConfig;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.TensorName;
import java.util.Map;

/**
 * The weight bytes one batch-1 decode step streams from memory, as stored (fp8 weights with their
 * block scales): every layer's attention projections and norms, its dense MLP or its router, shared
 * experts and num_experts_per_tok routed ones (the average expert's bytes each), the final norm and
 * the head; not the embedding table, of which a step reads one row, nor the MTP module. Memory
 * bandwidth over it bounds the batch-1 decode rate of a memory-bound engine.
 */
final class DecodeTraffic {
  private DecodeTraffic() {}

  /**
   * @param stored each tensor's stored bytes, by checkpoint name
   */
  static long weightBytesPerToken(ModelConfig c, Map<String, Long> stored) {
    double bytes = 0;
    for (CheckpointLayout.Tensor t : CheckpointLayout.of(c)) {
      boolean mtp = t.layer() == c.numHiddenLayers();
      // A tied embedding is the head: read whole every step.
      boolean table = t.kind() == TensorName.EMBED && !c.tieWordEmbeddings();
      if (mtp || table) {
        continue;
      }
      double share = t.expert() >= 0 ? (double) c.numExpertsPerTok() / c.nRoutedExperts() : 1;
      Long weight = stored.get(t.name());
      if (weight == null) {
        throw new IllegalArgumentException("the checkpoint has no tensor '" + t.name() + "'");
      }
      bytes += share * (weight + stored.getOrDefault(t.name() + Checkpoint.SCALE_SUFFIX, 0L));
    }
    return Math.round(bytes);
  }
}
