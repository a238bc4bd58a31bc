package io.latentstream.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.RandomCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Random DeepSeek-V3-layout checkpoints for configurations the shared fixtures lack, in two shards
 * with an index (or one model.safetensors), so the loader and the forward pass can be tested on any
 * point of the config space.
 */
public final class SyntheticCheckpoint {
  private SyntheticCheckpoint() {}

  /** The tiny base config every synthetic model starts from; callers override keys. */
  public static ObjectNode baseConfig() {
    ObjectNode n = new ObjectMapper().createObjectNode();
    n.put("model_type", "deepseek_v3");
    n.put("vocab_size", 96);
    n.put("hidden_size", 48);
    n.put("intermediate_size", 80);
    n.put("moe_intermediate_size", 24);
    n.put("num_hidden_layers", 3);
    n.put("num_nextn_predict_layers", 0);
    n.put("num_attention_heads", 3);
    n.put("n_shared_experts", 1);
    n.put("n_routed_experts", 8);
    n.put("routed_scaling_factor", 2.5);
    n.put("kv_lora_rank", 24);
    n.put("q_lora_rank", 40);
    n.put("qk_rope_head_dim", 8);
    n.put("v_head_dim", 12);
    n.put("qk_nope_head_dim", 16);
    n.put("topk_method", "noaux_tc");
    n.put("n_group", 4);
    n.put("topk_group", 2);
    n.put("num_experts_per_tok", 2);
    n.put("moe_layer_freq", 1);
    n.put("first_k_dense_replace", 1);
    n.put("norm_topk_prob", true);
    n.put("scoring_func", "sigmoid");
    n.put("hidden_act", "silu");
    n.put("max_position_embeddings", 256);
    n.put("rms_norm_eps", 1e-6);
    n.put("rope_theta", 10000.0);
    n.putNull("rope_scaling");
    n.put("tie_word_embeddings", false);
    return n;
  }

  /**
   * Writes config.json and random bf16 weights for it into dir (see {@link RandomCheckpoint}), in
   * two shards with an index or in one model.safetensors; returns the parsed config.
   */
  public static ModelConfig write(Path dir, ObjectNode configJson, long seed, boolean sharded)
      throws IOException {
    ModelConfig c = ModelConfig.parse(configJson.toString());
    long shardBytes = Long.MAX_VALUE;
    if (sharded) {
      // Half the bytes plus the largest tensor: the first shard closes past the half, so the
      // second holds the rest and there are exactly two.
      Map<String, Long> bytes =
          RandomCheckpoint.tensors(c, RandomCheckpoint.Format.BF16, seed, Long.MAX_VALUE)
              .tensorBytes();
      long total = bytes.values().stream().mapToLong(Long::longValue).sum();
      shardBytes = total / 2 + bytes.values().stream().mapToLong(Long::longValue).max().orElse(0);
    }
    RandomCheckpoint.write(dir, configJson, RandomCheckpoint.Format.BF16, seed, shardBytes);
    return c;
  }
}
