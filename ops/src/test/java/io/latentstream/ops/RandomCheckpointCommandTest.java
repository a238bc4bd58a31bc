package io.latentstream.ops;

import static io.latentstream.ops.LatentstreamCliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.engine.Engine;
import io.latentstream.engine.StepRequest;
import io.latentstream.model.CheckpointLayout;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.RandomCheckpoint;
import io.latentstream.ops.LatentstreamCliTestSupport.Result;
import io.latentstream.runtime.Backends;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.DType;
import io.latentstream.weights.TensorInfo;
import io.latentstream.weights.TensorName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * random-checkpoint writes a DeepSeek-V3 checkpoint the loader reads, the same model in bf16 and
 * fp8 for one seed, in DeepSeek's fp8 conventions, reproducibly.
 */
class RandomCheckpointCommandTest {
  /** Shards of at most 1 MB: the small model below spans several. */
  private static final String SHARD_BYTES = "1000000";

  @TempDir Path dir;

  /**
   * A small model with every part: a dense layer, MoE layers with shared experts, the MTP module;
   * sizes off the 128 grid, so that some fp8 blocks are partial.
   */
  static ObjectNode smallConfig() {
    ObjectNode n = new ObjectMapper().createObjectNode();
    n.put("model_type", "deepseek_v3");
    n.put("vocab_size", 512);
    n.put("hidden_size", 256);
    n.put("intermediate_size", 320);
    n.put("moe_intermediate_size", 160);
    n.put("num_hidden_layers", 3);
    n.put("num_nextn_predict_layers", 1);
    n.put("num_attention_heads", 4);
    n.put("n_shared_experts", 1);
    n.put("n_routed_experts", 8);
    n.put("routed_scaling_factor", 2.5);
    n.put("kv_lora_rank", 64);
    n.put("q_lora_rank", 96);
    n.put("qk_rope_head_dim", 16);
    n.put("v_head_dim", 32);
    n.put("qk_nope_head_dim", 32);
    n.put("topk_method", "noaux_tc");
    n.put("n_group", 4);
    n.put("topk_group", 2);
    n.put("num_experts_per_tok", 2);
    n.put("first_k_dense_replace", 1);
    n.put("norm_topk_prob", true);
    n.put("scoring_func", "sigmoid");
    n.put("max_position_embeddings", 256);
    n.put("rms_norm_eps", 1e-6);
    n.put("rope_theta", 10000.0);
    n.put("tie_word_embeddings", false);
    return n;
  }

  private Path write(String dtype, String seed, String out) throws IOException {
    Path config = dir.resolve("small.json");
    Files.writeString(config, smallConfig().toString());
    Path to = dir.resolve(out);
    Result r =
        run(
            "random-checkpoint",
            "--config",
            config.toString(),
            "--dtype",
            dtype,
            "--seed",
            seed,
            "--shard-bytes",
            SHARD_BYTES,
            "--out",
            to.toString());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().startsWith("wrote " + to + ": "), r.out());
    return to;
  }

  /**
   * The two dtypes of one seed are one model: every tensor reads back (fp8 dequantized) to the same
   * fp32 values, so the logits agree. The CPU engine widens both to the same fp32 weights, so they
   * agree bitwise today; 1e-5 of the largest logit leaves room for kernels that multiply fp8
   * directly and sum in another order.
   */
  @Test
  void bf16HoldsExactlyTheDequantizedFp8ModelAndBothGiveSaneLogits() throws Exception {
    Path fp8 = write("fp8", "7", "fp8");
    Path bf16 = write("bf16", "7", "bf16");
    try (Checkpoint a = Checkpoint.open(fp8, Checkpoint.Progress.NONE);
        Checkpoint b = Checkpoint.open(bf16, Checkpoint.Progress.NONE)) {
      a.setBlockSize(ModelConfig.load(fp8).fp8BlockSize());
      for (TensorInfo t : b.tensors().values()) {
        assertArrayEquals(b.read(t.name(), t.shape()), a.read(t.name(), t.shape()), t.name());
      }
    }
    int[] prompt = {0, 17, 300, 5, 511, 42};
    float[][] x = logits(fp8, prompt);
    float[][] y = logits(bf16, prompt);
    double largest = 0;
    for (float[] row : y) {
      double min = Double.MAX_VALUE;
      double max = -Double.MAX_VALUE;
      for (float v : row) {
        assertTrue(Float.isFinite(v), "finite logits");
        min = Math.min(min, v);
        max = Math.max(max, v);
        largest = Math.max(largest, Math.abs(v));
      }
      assertTrue(max - min > 1, "logits spread over the vocabulary: " + min + ".." + max);
    }
    for (int t = 0; t < prompt.length; t++) {
      for (int v = 0; v < x[t].length; v++) {
        assertEquals(y[t][v], x[t][v], 1e-5 * largest, "position " + t + ", token " + v);
      }
    }
  }

  private static float[][] logits(Path model, int[] prompt) throws IOException {
    try (Backends.Loaded loaded = Backends.cpu(model)) {
      Engine engine = loaded.engine();
      assertTrue(engine.hasMtp(), "the MTP module loads too");
      return engine
          .step(List.of(new StepRequest(engine.newSequence(), prompt, StepRequest.Logits.ALL)))
          .get(0)
          .logits();
    }
  }

  /**
   * fp8 as DeepSeek-V3's release: decoder linears F8_E4M3 with [ceil(rows/128), ceil(cols/128)]
   * fp32 scales, the rest bf16 (router bias fp32), the quantization_config; several shards under an
   * index that lists every tensor where it is.
   */
  @Test
  void fp8FollowsDeepSeekConventionsAcrossShardsWithAValidIndex() throws Exception {
    Path fp8 = write("fp8", "1", "fp8");
    JsonNode config = new ObjectMapper().readTree(fp8.resolve("config.json").toFile());
    assertEquals(
        new ObjectMapper()
            .readTree(
                "{\"activation_scheme\":\"dynamic\",\"fmt\":\"e4m3\",\"quant_method\":\"fp8\","
                    + "\"weight_block_size\":[128,128]}"),
        config.get("quantization_config"));
    JsonNode index =
        new ObjectMapper().readTree(fp8.resolve("model.safetensors.index.json").toFile());
    List<String> shards;
    try (Stream<Path> files = Files.list(fp8)) {
      shards =
          files
              .map(f -> f.getFileName().toString())
              .filter(f -> f.endsWith(".safetensors"))
              .sorted()
              .toList();
    }
    assertTrue(shards.size() >= 3, "several shards: " + shards);
    for (int k = 0; k < shards.size(); k++) {
      assertEquals(
          String.format("model-%05d-of-%05d.safetensors", k + 1, shards.size()), shards.get(k));
    }
    long total = 0;
    Map<Path, Long> perShard = new HashMap<>();
    ModelConfig c = ModelConfig.load(fp8);
    try (Checkpoint ck = Checkpoint.open(fp8, Checkpoint.Progress.NONE)) {
      Map<String, TensorInfo> tensors = ck.tensors();
      for (TensorInfo t : tensors.values()) {
        assertEquals(
            t.file().getFileName().toString(), index.get("weight_map").get(t.name()).asText());
        perShard.merge(t.file(), t.end() - t.begin(), Long::sum);
        total += t.end() - t.begin();
      }
      perShard.forEach((f, bytes) -> assertTrue(bytes <= 1_000_000, f + " holds " + bytes));
      int scales = 0;
      for (CheckpointLayout.Tensor t : CheckpointLayout.of(c)) {
        TensorInfo info = tensors.get(t.name());
        TensorInfo scale = tensors.get(t.name() + Checkpoint.SCALE_SUFFIX);
        if (t.kind().blockFp8()) {
          assertEquals(DType.F8_E4M3, info.dtype(), t.name());
          assertEquals(DType.F32, scale.dtype(), t.name());
          assertArrayEquals(
              new long[] {(t.shape()[0] + 127) / 128, (t.shape()[1] + 127) / 128},
              scale.shape(),
              t.name());
          scales++;
        } else {
          DType expected = t.kind() == TensorName.GATE_BIAS ? DType.F32 : DType.BF16;
          assertEquals(expected, info.dtype(), t.name());
          assertFalse(tensors.containsKey(t.name() + Checkpoint.SCALE_SUFFIX), t.name());
        }
      }
      assertEquals(CheckpointLayout.of(c).size() + scales, tensors.size(), "nothing else");
      assertEquals(DType.BF16, tensors.get(TensorName.MTP_EH_PROJ.in(3)).dtype(), "as released");
      assertEquals(DType.F8_E4M3, tensors.get(TensorName.WO.in(3)).dtype(), "the MTP block's");
    }
    assertEquals(total, index.get("metadata").get("total_size").asLong());
  }

  @Test
  void theSameSeedWritesTheSameBytes() throws Exception {
    Path a = write("fp8", "3", "a");
    Path b = write("fp8", "3", "b");
    Path other = write("fp8", "4", "other");
    List<String> files;
    try (Stream<Path> list = Files.list(a)) {
      files = list.map(f -> f.getFileName().toString()).sorted().toList();
    }
    for (String f : files) {
      assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
    }
    String shard =
        files.stream().filter(f -> f.startsWith("model-00001")).findFirst().orElseThrow();
    assertEquals(Files.size(a.resolve(shard)), Files.size(other.resolve(shard)));
    assertNotEquals(
        Files.mismatch(a.resolve(shard), other.resolve(shard)), -1L, "another seed, other weights");
  }

  /** The medium preset is issue 23's memory-bound size; parsed without writing its 1458 MiB. */
  @Test
  void mediumPresetIsTheDocumentedConfig() throws Exception {
    Files.writeString(
        dir.resolve("config.json"), RandomCheckpointCommand.Preset.MEDIUM.config().toString());
    ModelConfig c = ModelConfig.load(dir);
    assertEquals(
        new ModelConfig(
            8192,
            1024,
            2816,
            512,
            8,
            0,
            16,
            1,
            1,
            384,
            256,
            64,
            32,
            64,
            64,
            1,
            6,
            8,
            4,
            2.5,
            true,
            ModelConfig.ScoringFunc.SIGMOID,
            ModelConfig.TopkMethod.NOAUX_TC,
            1e-6,
            10000.0,
            4096,
            null,
            false,
            0),
        c);
    long bytes =
        RandomCheckpoint.tensors(c, RandomCheckpoint.Format.BF16, 0, Long.MAX_VALUE)
            .tensorBytes()
            .values()
            .stream()
            .mapToLong(Long::longValue)
            .sum();
    assertEquals(1_528_739_584L, bytes, "1458 MiB in bf16");
  }

  @Test
  void configAndPresetAreOneOrTheOther() {
    Result neither = run("random-checkpoint", "--dtype", "bf16", "--out", dir.toString());
    Result both =
        run(
            "random-checkpoint",
            "--preset",
            "medium",
            "--config",
            "x.json",
            "--dtype",
            "bf16",
            "--out",
            dir.toString());
    for (Result r : List.of(neither, both)) {
      assertEquals(1, r.exitCode(), r.toString());
      assertTrue(r.err().contains("one of --config FILE and --preset NAME"), r.err());
    }
  }
}
