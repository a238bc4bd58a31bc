package io.latentstream.weights;

/**
 * The one table from checkpoint tensor names (Hugging Face DeepSeek-V3 layout) to the engine's
 * names, which follow DeepSeek's inference/model.py symbols. Per-layer names take the layer index,
 * per-expert names also the expert index.
 */
public enum TensorName {
  EMBED("model.embed_tokens.weight"),
  NORM("model.norm.weight"),
  HEAD("lm_head.weight"),

  ATTN_NORM("model.layers.%d.input_layernorm.weight"),
  WQ("model.layers.%d.self_attn.q_proj.weight"),
  WQ_A("model.layers.%d.self_attn.q_a_proj.weight"),
  Q_NORM("model.layers.%d.self_attn.q_a_layernorm.weight"),
  WQ_B("model.layers.%d.self_attn.q_b_proj.weight"),
  WKV_A("model.layers.%d.self_attn.kv_a_proj_with_mqa.weight"),
  KV_NORM("model.layers.%d.self_attn.kv_a_layernorm.weight"),
  WKV_B("model.layers.%d.self_attn.kv_b_proj.weight"),
  WO("model.layers.%d.self_attn.o_proj.weight"),
  FFN_NORM("model.layers.%d.post_attention_layernorm.weight"),

  MLP_W1("model.layers.%d.mlp.gate_proj.weight"),
  MLP_W3("model.layers.%d.mlp.up_proj.weight"),
  MLP_W2("model.layers.%d.mlp.down_proj.weight"),
  GATE("model.layers.%d.mlp.gate.weight"),
  GATE_BIAS("model.layers.%d.mlp.gate.e_score_correction_bias"),
  EXPERT_W1("model.layers.%d.mlp.experts.%d.gate_proj.weight"),
  EXPERT_W3("model.layers.%d.mlp.experts.%d.up_proj.weight"),
  EXPERT_W2("model.layers.%d.mlp.experts.%d.down_proj.weight"),
  SHARED_W1("model.layers.%d.mlp.shared_experts.gate_proj.weight"),
  SHARED_W3("model.layers.%d.mlp.shared_experts.up_proj.weight"),
  SHARED_W2("model.layers.%d.mlp.shared_experts.down_proj.weight"),

  /** MTP module, stored as layer num_hidden_layers; it shares the main embedding and head. */
  MTP_ENORM("model.layers.%d.enorm.weight"),
  MTP_HNORM("model.layers.%d.hnorm.weight"),
  MTP_EH_PROJ("model.layers.%d.eh_proj.weight"),
  MTP_HEAD_NORM("model.layers.%d.shared_head.norm.weight");

  private final String pattern;

  TensorName(String pattern) {
    this.pattern = pattern;
  }

  /** The checkpoint name; indices fill the pattern's layer and expert slots in order. */
  public String in(int... indices) {
    Object[] args = new Object[indices.length];
    for (int i = 0; i < indices.length; i++) {
      args[i] = indices[i];
    }
    return String.format(java.util.Locale.ROOT, pattern, args);
  }
}
