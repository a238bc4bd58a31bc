package io.latentstream.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The architecture of a DeepSeek-V2/V3 checkpoint, parsed from its Hugging Face {@code
 * config.json}. Field names follow the JSON keys (camel-cased); derived sizes are computed once in
 * the compact constructor so that no layer recomputes them.
 *
 * @param qLoraRank 0 when the checkpoint has no query compression ({@code q_lora_rank: null}): a
 *     plain {@code q_proj} then maps the hidden state to the heads
 * @param ropeScaling null for plain RoPE
 * @param fp8BlockSize 0 for unquantized checkpoints, else the square block edge of {@code
 *     weight_scale_inv}
 */
public record ModelConfig(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int moeIntermediateSize,
    int numHiddenLayers,
    int numNextnPredictLayers,
    int numAttentionHeads,
    int firstKDenseReplace,
    int moeLayerFreq,
    int qLoraRank,
    int kvLoraRank,
    int qkNopeHeadDim,
    int qkRopeHeadDim,
    int vHeadDim,
    int nRoutedExperts,
    int nSharedExperts,
    int numExpertsPerTok,
    int nGroup,
    int topkGroup,
    double routedScalingFactor,
    boolean normTopkProb,
    ScoringFunc scoringFunc,
    TopkMethod topkMethod,
    double rmsNormEps,
    double ropeTheta,
    int maxPositionEmbeddings,
    Yarn ropeScaling,
    boolean tieWordEmbeddings,
    int fp8BlockSize) {

  /** The router's score function (DeepSeek-V3 uses sigmoid, V2 softmax). */
  public enum ScoringFunc {
    SIGMOID,
    SOFTMAX
  }

  /**
   * How the router picks experts: {@code noaux_tc} (V3: bias-corrected scores, groups ranked by the
   * sum of their top-2), {@code group_limited_greedy} (V2: groups ranked by their best score),
   * {@code greedy} (V2-Lite: plain top-k).
   */
  public enum TopkMethod {
    NOAUX_TC,
    GROUP_LIMITED_GREEDY,
    GREEDY
  }

  /**
   * YaRN parameters of {@code rope_scaling} (type "yarn"), as Hugging Face transformers reads them.
   * Absent {@code mscale}/{@code mscale_all_dim} are 0, which transformers treats as "not given".
   */
  public record Yarn(
      double factor,
      int originalMaxPositionEmbeddings,
      double betaFast,
      double betaSlow,
      double mscale,
      double mscaleAllDim) {}

  public ModelConfig {
    require(hiddenSize > 0, "hidden_size", hiddenSize);
    require(numHiddenLayers > 0, "num_hidden_layers", numHiddenLayers);
    require(numAttentionHeads > 0, "num_attention_heads", numAttentionHeads);
    require(kvLoraRank > 0, "kv_lora_rank", kvLoraRank);
    require(qkRopeHeadDim > 0 && qkRopeHeadDim % 2 == 0, "qk_rope_head_dim", qkRopeHeadDim);
    require(
        numNextnPredictLayers == 0 || numNextnPredictLayers == 1,
        "num_nextn_predict_layers",
        numNextnPredictLayers);
    require(firstKDenseReplace >= 0, "first_k_dense_replace", firstKDenseReplace);
    if (firstKDenseReplace < numHiddenLayers + numNextnPredictLayers) {
      require(nRoutedExperts > 0, "n_routed_experts", nRoutedExperts);
      require(
          numExpertsPerTok > 0 && numExpertsPerTok <= nRoutedExperts,
          "num_experts_per_tok",
          numExpertsPerTok);
      require(nGroup > 0 && nRoutedExperts % nGroup == 0, "n_group", nGroup);
      require(topkGroup > 0 && topkGroup <= nGroup, "topk_group", topkGroup);
      require(topkMethod != TopkMethod.NOAUX_TC || nRoutedExperts / nGroup >= 2, "n_group", nGroup);
      require(topkGroup * (nRoutedExperts / nGroup) >= numExpertsPerTok, "topk_group", topkGroup);
    }
  }

  private static void require(boolean ok, String key, Object value) {
    if (!ok) {
      throw new IllegalArgumentException(
          "config.json: unsupported value " + value + " for key '" + key + "'");
    }
  }

  /** Per-head query/key width: the no-position part plus the rotary part. */
  public int qkHeadDim() {
    return qkNopeHeadDim + qkRopeHeadDim;
  }

  /** Refuses token ids outside the vocabulary [0, vocab_size). */
  public void checkTokenIds(int[] tokens) {
    for (int t : tokens) {
      if (t < 0 || t >= vocabSize) {
        throw new IllegalArgumentException(
            "token id " + t + " is outside the vocabulary [0, " + vocabSize + ")");
      }
    }
  }

  /** Values cached per token and layer: the normalized latent plus the rotated shared key. */
  public int latentDim() {
    return kvLoraRank + qkRopeHeadDim;
  }

  /** Layer l uses DeepSeekMoE (the MTP block at index numHiddenLayers follows the same rule). */
  public boolean isMoeLayer(int layer) {
    return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % moeLayerFreq == 0;
  }

  /**
   * Softmax scale of MLA: 1/sqrt(qk_head_dim), times mscale(factor, mscale_all_dim)^2 under YaRN
   * (transformers' DeepseekV3Attention; it compensates the attention_factor folded into cos/sin).
   */
  public double softmaxScale() {
    double scale = 1.0 / Math.sqrt(qkHeadDim());
    if (ropeScaling != null && ropeScaling.mscaleAllDim() != 0) {
      double m = yarnMscale(ropeScaling.factor(), ropeScaling.mscaleAllDim());
      scale *= m * m;
    }
    return scale;
  }

  /** YaRN's attention temperature, 0.1 * mscale * ln(scale) + 1 (1 when not extrapolating). */
  public static double yarnMscale(double scale, double mscale) {
    return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
  }

  /** Reads {@code config.json} in a checkpoint directory. */
  public static ModelConfig load(Path dir) throws IOException {
    Path file = dir.resolve("config.json");
    try {
      return parse(Files.readString(file));
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file + " (not a model directory)");
    }
  }

  /** Parses the text of a {@code config.json}. */
  public static ModelConfig parse(String json) throws IOException {
    JsonNode n = new ObjectMapper().readTree(json);
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException("config.json: not a JSON object");
    }
    Reader r = new Reader(n);
    r.choice("hidden_act", "silu", List.of("silu"));
    if (r.optBool("attention_bias", false)) {
      throw r.bad("attention_bias", "must be false (MLA projections have no bias)");
    }
    int nRouted = r.optInt("n_routed_experts", 0);
    return new ModelConfig(
        r.reqInt("vocab_size"),
        r.reqInt("hidden_size"),
        r.reqInt("intermediate_size"),
        r.optInt("moe_intermediate_size", 0),
        r.reqInt("num_hidden_layers"),
        r.optInt("num_nextn_predict_layers", 0),
        r.reqInt("num_attention_heads"),
        r.optInt("first_k_dense_replace", 0),
        r.optInt("moe_layer_freq", 1),
        r.optInt("q_lora_rank", 0),
        r.reqInt("kv_lora_rank"),
        r.reqInt("qk_nope_head_dim"),
        r.reqInt("qk_rope_head_dim"),
        r.reqInt("v_head_dim"),
        nRouted,
        r.optInt("n_shared_experts", 0),
        r.optInt("num_experts_per_tok", 0),
        r.optInt("n_group", 1),
        r.optInt("topk_group", 1),
        r.optDouble("routed_scaling_factor", 1.0),
        r.optBool("norm_topk_prob", false),
        r.choice("scoring_func", "softmax", List.of("sigmoid", "softmax")).equals("sigmoid")
            ? ScoringFunc.SIGMOID
            : ScoringFunc.SOFTMAX,
        TopkMethod.valueOf(
            r.choice("topk_method", "greedy", List.of("noaux_tc", "group_limited_greedy", "greedy"))
                .toUpperCase(java.util.Locale.ROOT)),
        r.optDouble("rms_norm_eps", 1e-6),
        r.optDouble("rope_theta", 10000.0),
        r.optInt("max_position_embeddings", 4096),
        yarn(n),
        r.optBool("tie_word_embeddings", false),
        fp8BlockSize(n));
  }

  private static Yarn yarn(JsonNode root) {
    JsonNode s = root.get("rope_scaling");
    if (s == null || s.isNull()) {
      return null;
    }
    Reader r = new Reader(s, "rope_scaling.");
    String type = s.has("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("");
    if (!type.equals("yarn")) {
      throw new IllegalArgumentException(
          "config.json: unsupported value '"
              + type
              + "' for key 'rope_scaling.type' (supported:"
              + " yarn, or rope_scaling null)");
    }
    // transformers (DeepSeek-V3 convention): with original_max_position_embeddings given, the
    // frequency and attention factor are max_position_embeddings / original, not 'factor'.
    int maxPos = new Reader(root).optInt("max_position_embeddings", 4096);
    double factor = r.reqDouble("factor");
    int original = r.optInt("original_max_position_embeddings", 0);
    if (original > 0) {
      factor = (double) maxPos / original;
    } else {
      original = maxPos;
    }
    return new Yarn(
        factor,
        original,
        r.optDouble("beta_fast", 32),
        r.optDouble("beta_slow", 1),
        r.optDouble("mscale", 0),
        r.optDouble("mscale_all_dim", 0));
  }

  private static int fp8BlockSize(JsonNode root) {
    JsonNode q = root.get("quantization_config");
    if (q == null || q.isNull()) {
      return 0;
    }
    Reader r = new Reader(q, "quantization_config.");
    r.choice("quant_method", null, List.of("fp8"));
    r.choice("fmt", "e4m3", List.of("e4m3"));
    JsonNode block = q.get("weight_block_size");
    if (block == null
        || !block.isArray()
        || block.size() != 2
        || block.get(0).asInt() <= 0
        || block.get(0).asInt() != block.get(1).asInt()) {
      throw new IllegalArgumentException(
          "config.json: unsupported value "
              + block
              + " for key 'quantization_config.weight_block_size' (supported: [b, b])");
    }
    return block.get(0).asInt();
  }

  /** Typed access to JSON keys with errors that name the key. */
  private record Reader(JsonNode node, String prefix) {
    Reader(JsonNode node) {
      this(node, "");
    }

    private JsonNode get(String key) {
      JsonNode v = node.get(key);
      return v == null || v.isNull() ? null : v;
    }

    private IllegalArgumentException bad(String key, String what) {
      return new IllegalArgumentException("config.json: key '" + prefix + key + "' " + what);
    }

    int reqInt(String key) {
      JsonNode v = get(key);
      if (v == null) {
        throw bad(key, "is missing");
      }
      if (!v.canConvertToInt() || !v.isIntegralNumber()) {
        throw bad(key, "must be an integer, got " + v);
      }
      return v.intValue();
    }

    int optInt(String key, int fallback) {
      return get(key) == null ? fallback : reqInt(key);
    }

    double reqDouble(String key) {
      JsonNode v = get(key);
      if (v == null) {
        throw bad(key, "is missing");
      }
      if (!v.isNumber()) {
        throw bad(key, "must be a number, got " + v);
      }
      return v.doubleValue();
    }

    double optDouble(String key, double fallback) {
      return get(key) == null ? fallback : reqDouble(key);
    }

    boolean optBool(String key, boolean fallback) {
      JsonNode v = get(key);
      if (v == null) {
        return fallback;
      }
      if (!v.isBoolean()) {
        throw bad(key, "must be true or false, got " + v);
      }
      return v.booleanValue();
    }

    String choice(String key, String fallback, List<String> supported) {
      JsonNode v = get(key);
      if (v == null) {
        if (fallback == null) {
          throw bad(key, "is missing");
        }
        return fallback;
      }
      if (!supported.contains(v.asText())) {
        throw bad(key, "has unsupported value '" + v.asText() + "' (supported: " + supported + ")");
      }
      return v.asText();
    }
  }
}
