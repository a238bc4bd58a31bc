package io.latentstream.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.model.ModelConfig;
import io.latentstream.weights.DType;
import io.latentstream.weights.SafetensorsWriter;
import io.latentstream.weights.TensorName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Writes random DeepSeek-V3-layout checkpoints for configurations the shared fixtures lack, in two
 * shards with an index (or one model.safetensors), so the loader and the forward pass can be tested
 * on any point of the config space.
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

  /** Writes config.json and random weights for it into dir; returns the parsed config. */
  public static ModelConfig write(Path dir, ObjectNode configJson, long seed, boolean sharded)
      throws IOException {
    Files.createDirectories(dir);
    String json =
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(configJson);
    Files.writeString(dir.resolve("config.json"), json);
    ModelConfig c = ModelConfig.parse(json);
    Map<String, long[]> shapes = shapes(c);
    Random rnd = new Random(seed);
    SafetensorsWriter[] shards = {new SafetensorsWriter(), new SafetensorsWriter()};
    Map<String, String> index = new LinkedHashMap<>();
    int i = 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      long[] shape = e.getValue();
      int n = (int) (shape.length == 1 ? shape[0] : shape[0] * shape[1]);
      float[] data = new float[n];
      String name = e.getKey();
      boolean norm = name.endsWith("norm.weight");
      // Linear weights ~ N(0, 1/in) keep activations O(1) through the layers; norms near 1.
      double std =
          name.contains("correction_bias")
              ? 0.1
              : norm ? 0.1 : 1.0 / Math.sqrt(shape[shape.length - 1]);
      for (int j = 0; j < n; j++) {
        data[j] = (float) ((norm ? 1 : 0) + std * rnd.nextGaussian());
      }
      int shard = sharded ? i++ % 2 : 0;
      DType dtype = name.contains("correction_bias") ? DType.F32 : DType.BF16;
      shards[shard].add(name, dtype, data, shape);
      index.put(name, "model-0000" + (shard + 1) + "-of-00002.safetensors");
    }
    if (sharded) {
      shards[0].write(dir.resolve("model-00001-of-00002.safetensors"));
      shards[1].write(dir.resolve("model-00002-of-00002.safetensors"));
      ObjectNode idx = new ObjectMapper().createObjectNode();
      idx.putObject("metadata");
      ObjectNode map = idx.putObject("weight_map");
      index.forEach(map::put);
      Files.writeString(dir.resolve("model.safetensors.index.json"), idx.toString());
    } else {
      shards[0].write(dir.resolve("model.safetensors"));
    }
    return c;
  }

  /** Every tensor a config calls for, with its shape. */
  public static Map<String, long[]> shapes(ModelConfig c) {
    Map<String, long[]> s = new LinkedHashMap<>();
    long dim = c.hiddenSize();
    long h = c.numAttentionHeads();
    s.put(TensorName.EMBED.in(), new long[] {c.vocabSize(), dim});
    for (int l = 0; l < c.numHiddenLayers() + c.numNextnPredictLayers(); l++) {
      s.put(TensorName.ATTN_NORM.in(l), new long[] {dim});
      if (c.qLoraRank() > 0) {
        s.put(TensorName.WQ_A.in(l), new long[] {c.qLoraRank(), dim});
        s.put(TensorName.Q_NORM.in(l), new long[] {c.qLoraRank()});
        s.put(TensorName.WQ_B.in(l), new long[] {h * c.qkHeadDim(), c.qLoraRank()});
      } else {
        s.put(TensorName.WQ.in(l), new long[] {h * c.qkHeadDim(), dim});
      }
      s.put(TensorName.WKV_A.in(l), new long[] {c.latentDim(), dim});
      s.put(TensorName.KV_NORM.in(l), new long[] {c.kvLoraRank()});
      s.put(
          TensorName.WKV_B.in(l),
          new long[] {h * (c.qkNopeHeadDim() + c.vHeadDim()), c.kvLoraRank()});
      s.put(TensorName.WO.in(l), new long[] {dim, h * c.vHeadDim()});
      s.put(TensorName.FFN_NORM.in(l), new long[] {dim});
      if (c.isMoeLayer(l)) {
        long inter = c.moeIntermediateSize();
        s.put(TensorName.GATE.in(l), new long[] {c.nRoutedExperts(), dim});
        if (c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC) {
          s.put(TensorName.GATE_BIAS.in(l), new long[] {c.nRoutedExperts()});
        }
        for (int e = 0; e < c.nRoutedExperts(); e++) {
          s.put(TensorName.EXPERT_W1.in(l, e), new long[] {inter, dim});
          s.put(TensorName.EXPERT_W3.in(l, e), new long[] {inter, dim});
          s.put(TensorName.EXPERT_W2.in(l, e), new long[] {dim, inter});
        }
        if (c.nSharedExperts() > 0) {
          long shared = inter * c.nSharedExperts();
          s.put(TensorName.SHARED_W1.in(l), new long[] {shared, dim});
          s.put(TensorName.SHARED_W3.in(l), new long[] {shared, dim});
          s.put(TensorName.SHARED_W2.in(l), new long[] {dim, shared});
        }
      } else {
        s.put(TensorName.MLP_W1.in(l), new long[] {c.intermediateSize(), dim});
        s.put(TensorName.MLP_W3.in(l), new long[] {c.intermediateSize(), dim});
        s.put(TensorName.MLP_W2.in(l), new long[] {dim, c.intermediateSize()});
      }
      if (l == c.numHiddenLayers()) {
        s.put(TensorName.MTP_ENORM.in(l), new long[] {dim});
        s.put(TensorName.MTP_HNORM.in(l), new long[] {dim});
        s.put(TensorName.MTP_EH_PROJ.in(l), new long[] {dim, 2 * dim});
        s.put(TensorName.MTP_HEAD_NORM.in(l), new long[] {dim});
      }
    }
    s.put(TensorName.NORM.in(), new long[] {dim});
    s.put(TensorName.HEAD.in(), new long[] {c.vocabSize(), dim});
    return s;
  }
}
