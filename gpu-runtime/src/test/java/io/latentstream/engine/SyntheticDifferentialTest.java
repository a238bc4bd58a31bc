package io.latentstream.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.backend.cpu.ReferenceKernels;
import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.engine.StepRequest.Logits;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.testing.SyntheticCheckpoint;
import io.latentstream.testing.TextbookForward;
import io.latentstream.weights.Checkpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Configurations the shared fixtures do not cover, on random checkpoints: the absorbed, cached
 * engine (prefill, then token-by-token decode) against {@link TextbookForward}'s decompressed full
 * recompute. Tolerance 1e-4 absolute on logits of magnitude ~1: both are fp32 and differ only in
 * summation order (~1e-6); a wrong rotation pair, YaRN ramp or router rule moves logits by 1e-2.
 */
class SyntheticDifferentialTest {
  private static final double TOL = 1e-4;

  static Stream<Arguments> configs() {
    return Stream.of(
        Arguments.of("v3-base", (Consumer<ObjectNode>) n -> {}),
        Arguments.of(
            "no-q-lora, YaRN, 2 shared, 8 groups",
            (Consumer<ObjectNode>)
                n -> {
                  n.putNull("q_lora_rank");
                  n.put("n_routed_experts", 16);
                  n.put("n_group", 8);
                  n.put("topk_group", 3);
                  n.put("num_experts_per_tok", 4);
                  n.put("n_shared_experts", 2);
                  n.put("max_position_embeddings", 256);
                  ObjectNode y = n.putObject("rope_scaling");
                  y.put("type", "yarn");
                  y.put("factor", 4.0);
                  y.put("original_max_position_embeddings", 64);
                  y.put("beta_fast", 32);
                  y.put("beta_slow", 1);
                  y.put("mscale", 1.0);
                  y.put("mscale_all_dim", 0.8);
                }),
        Arguments.of(
            "V2: softmax, group_limited_greedy, no shared, 2 dense",
            (Consumer<ObjectNode>)
                n -> {
                  n.put("scoring_func", "softmax");
                  n.put("topk_method", "group_limited_greedy");
                  n.put("norm_topk_prob", false);
                  n.put("routed_scaling_factor", 1.0);
                  n.put("n_shared_experts", 0);
                  n.put("first_k_dense_replace", 2);
                }),
        Arguments.of(
            "V2-Lite: greedy, softmax, no q_lora",
            (Consumer<ObjectNode>)
                n -> {
                  n.putNull("q_lora_rank");
                  n.put("scoring_func", "softmax");
                  n.put("topk_method", "greedy");
                  n.put("n_group", 1);
                  n.put("topk_group", 1);
                  n.put("num_experts_per_tok", 3);
                }));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void cachedAbsorbedEngineMatchesTextbookRecompute(
      String name, Consumer<ObjectNode> edit, @TempDir Path dir) throws Exception {
    ObjectNode json = SyntheticCheckpoint.baseConfig();
    edit.accept(json);
    // Configs with a null q_lora_rank also exercise the sharded index; the others one file.
    boolean sharded = json.get("q_lora_rank").isNull();
    SyntheticCheckpoint.write(dir, json, name.hashCode(), sharded);
    int[] tokens = new Random(7).ints(14, 0, 96).toArray();
    float[][] expected = new TextbookForward(dir).logits(tokens);
    for (var kernels : List.of(new ReferenceKernels(), new VectorKernels(2))) {
      Engine engine = CpuEngine.load(dir, kernels, Checkpoint.Progress.NONE);
      Sequence seq = engine.newSequence();
      List<float[]> got = new ArrayList<>();
      got.addAll(
          List.of(
              engine
                  .step(
                      List.of(new StepRequest(seq, java.util.Arrays.copyOf(tokens, 6), Logits.ALL)))
                  .get(0)
                  .logits()));
      for (int i = 6; i < tokens.length; i++) {
        got.add(
            engine
                .step(List.of(new StepRequest(seq, new int[] {tokens[i]}, Logits.LAST)))
                .get(0)
                .logits()[0]);
      }
      double worst = 0;
      double scale = 0;
      for (int i = 0; i < tokens.length; i++) {
        for (int v = 0; v < expected[i].length; v++) {
          worst = Math.max(worst, Math.abs(expected[i][v] - got.get(i)[v]));
          scale = Math.max(scale, Math.abs(expected[i][v]));
        }
      }
      assertTrue(
          scale > 0.1, "degenerate logits (max " + scale + "): the test would prove nothing");
      assertTrue(
          worst <= TOL,
          name + " on " + kernels.getClass().getSimpleName() + ": max abs difference " + worst);
    }
  }
}
