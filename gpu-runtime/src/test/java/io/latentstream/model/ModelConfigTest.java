package io.latentstream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.testing.SharedData;
import io.latentstream.testing.SyntheticCheckpoint;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class ModelConfigTest {
  private static String rejected(Consumer<ObjectNode> edit) {
    ObjectNode n = SyntheticCheckpoint.baseConfig();
    edit.accept(n);
    return assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(n.toString()))
        .getMessage();
  }

  @Test
  void readsTheFixturesWithTheirDerivedSizes() throws Exception {
    ModelConfig c = ModelConfig.load(SharedData.model("brown-mtp"));
    assertEquals(48, c.qkHeadDim());
    assertEquals(80, c.latentDim());
    assertEquals(1, c.numNextnPredictLayers());
    assertEquals(ModelConfig.TopkMethod.NOAUX_TC, c.topkMethod());
    assertNull(c.ropeScaling());
    assertEquals(1 / Math.sqrt(48), c.softmaxScale(), 1e-12);
    assertEquals(128, ModelConfig.load(SharedData.model("tiny-a-fp8")).fp8BlockSize());
  }

  @Test
  void nullQLoraRankMeansAPlainQueryProjection() throws Exception {
    ObjectNode n = SyntheticCheckpoint.baseConfig();
    n.putNull("q_lora_rank");
    assertEquals(0, ModelConfig.parse(n.toString()).qLoraRank());
  }

  @Test
  void yarnFollowsTransformers() throws Exception {
    ObjectNode n = SyntheticCheckpoint.baseConfig();
    n.put("max_position_embeddings", 163840);
    ObjectNode y = n.putObject("rope_scaling");
    y.put("type", "yarn");
    y.put("factor", 40);
    y.put("original_max_position_embeddings", 4096);
    y.put("mscale", 1.0);
    y.put("mscale_all_dim", 1.0);
    ModelConfig c = ModelConfig.parse(n.toString());
    assertEquals(40, c.ropeScaling().factor(), 1e-12);
    double m = 0.1 * Math.log(40) + 1;
    assertEquals(m * m / Math.sqrt(24), c.softmaxScale(), 1e-12);
  }

  @Test
  void unsupportedValuesNameTheirKey() {
    assertTrue(rejected(n -> n.put("scoring_func", "tanh")).contains("'scoring_func'"));
    assertTrue(rejected(n -> n.put("topk_method", "magic")).contains("'topk_method'"));
    assertTrue(
        rejected(n -> n.putObject("rope_scaling").put("type", "dynamic"))
            .contains("'rope_scaling.type'"));
    assertTrue(
        rejected(n -> n.putObject("quantization_config").put("quant_method", "awq"))
            .contains("'quantization_config.quant_method'"));
    assertTrue(rejected(n -> n.put("hidden_act", "gelu")).contains("'hidden_act'"));
    assertTrue(rejected(n -> n.remove("kv_lora_rank")).contains("'kv_lora_rank' is missing"));
    assertTrue(rejected(n -> n.put("hidden_size", "big")).contains("'hidden_size'"));
    assertTrue(rejected(n -> n.put("n_group", 3)).contains("'n_group'"));
    assertTrue(
        rejected(n -> n.put("num_nextn_predict_layers", 2)).contains("'num_nextn_predict_layers'"));
  }
}
