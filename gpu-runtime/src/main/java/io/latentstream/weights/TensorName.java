package io.latentstream.weights;

/**
 * The one table from checkpoint tensor names (Hugging Face DeepSeek-V3 layout) to the engine's
 * names, which follow DeepSeek's inference/model.py symbols. Per-layer names take the layer index,
 * per-expert names also the expert index.
 *
 * <p>The linear layers of the decoder blocks (the MTP block's included) are those DeepSeek-V3's
 * release stores F8_E4M3 with 128x128 block scales; the embedding, the head, the norms, the router
 * and the MTP module's eh_proj it keeps in bf16 (the router's bias in fp32).
 */
public enum TensorName {
  EMBED("model.embed_tokens.weight"),
  NORM("model.norm.weight"),
  HEAD("lm_head.weight"),

  ATTN_NORM("model.layers.%d.input_layernorm.weight"),
  WQ("model.layers.%d.self_attn.q_proj.weight", true),
  WQ_A("model.layers.%d.self_attn.q_a_proj.weight", true),
  Q_NORM("model.layers.%d.self_attn.q_a_layernorm.weight"),
  WQ_B("model.layers.%d.self_attn.q_b_proj.weight", true),
  WKV_A("model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", true),
  KV_NORM("model.layers.%d.self_attn.kv_a_layernorm.weight"),
  WKV_B("model.layers.%d.self_attn.kv_b_proj.weight", true),
  WO("model.layers.%d.self_attn.o_proj.weight", true),
  FFN_NORM("model.layers.%d.post_attention_layernorm.weight"),

  MLP_W1("model.layers.%d.mlp.gate_proj.weight", true),
  MLP_W3("model.layers.%d.mlp.up_proj.weight", true),
  MLP_W2("model.layers.%d.mlp.down_proj.weight", true),
  GATE("model.layers.%d.mlp.gate.weight"),
  GATE_BIAS("model.layers.%d.mlp.gate.e_score_correction_bias"),
  EXPERT_W1("model.layers.%d.mlp.experts.%d.gate_proj.weight", true),
  EXPERT_W3("model.layers.%d.mlp.experts.%d.up_proj.weight", true),
  EXPERT_W2("model.layers.%d.mlp.experts.%d.down_proj.weight", true),
  SHARED_W1("model.layers.%d.mlp.shared_experts.gate_proj.weight", true),
  SHARED_W3("model.layers.%d.mlp.shared_experts.up_proj.weight", true),
  SHARED_W2("model.layers.%d.mlp.shared_experts.down_proj.weight", true),

  /** MTP module, stored as layer num_hidden_layers; it shares the main embedding and head. */
  MTP_ENORM("model.layers.%d.enorm.weight"),
  MTP_HNORM("model.layers.%d.hnorm.weight"),
  MTP_EH_PROJ("model.layers.%d.eh_proj.weight"),
  MTP_HEAD_NORM("model.layers.%d.shared_head.norm.weight");

  private final String pattern;
  private final boolean blockFp8;

  TensorName(String pattern) {
    this(pattern, false);
  }

  TensorName(String pattern, boolean blockFp8) {
    this.pattern = pattern;
    this.blockFp8 = blockFp8;
  }

  /** Whether DeepSeek-V3's fp8 release stores this tensor F8_E4M3 with block scales. */
  public boolean blockFp8() {
    return blockFp8;
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
