package io.latentstream.engine;

import static io.latentstream.testing.SharedData.golden;
import static io.latentstream.testing.SharedData.goldenJson;
import static io.latentstream.testing.SharedData.hasGolden;
import static io.latentstream.testing.SharedData.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.model.Trace;
import io.latentstream.testing.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The engine against the goldens of Hugging Face transformers (fp32) for every reference
 * checkpoint. Tolerance 1e-3 absolute on logits and hidden states, as the issue states: both sides
 * compute in fp32 but in different orders (absorbed vs decompressed attention, 8-lane vs BLAS
 * sums), which moves logits by ~1e-5; a real semantic error (a wrong RoPE pair, a missed bias, a
 * wrong scale) moves them by 1e-2 or more.
 */
class GoldenConformanceTest {
  static final double TOL = 1e-3;
  private static final Map<String, CpuEngine> ENGINES = new ConcurrentHashMap<>();

  static CpuEngine engine(String model) {
    return ENGINES.computeIfAbsent(
        model,
        m -> {
          try {
            return CpuEngine.load(SharedData.model(m));
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  /** Prompt tokens plus the golden greedy continuation (what the logits goldens cover). */
  static int[] goldenTokens(String model, JsonNode prompt) {
    int[] ids = ints(prompt.get("input_ids"));
    if (!model.equals("brown-mtp")) {
      return ids;
    }
    int[] greedy = ints(prompt.get("greedy_32"));
    int[] all = Arrays.copyOf(ids, ids.length + greedy.length);
    System.arraycopy(greedy, 0, all, ids.length, greedy.length);
    return all;
  }

  static void assertClose(float[][] expected, float[][] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what + ": rows");
    double worst = 0;
    for (int r = 0; r < expected.length; r++) {
      assertEquals(expected[r].length, actual[r].length, what + ": width");
      for (int c = 0; c < expected[r].length; c++) {
        worst = Math.max(worst, Math.abs(expected[r][c] - actual[r][c]));
      }
    }
    assertTrue(worst <= tol, what + ": max abs difference " + worst + " > " + tol);
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-a", "tiny-a-fp8", "brown-mtp"})
  void logitsAtEveryPositionMatchTheGolden(String model) {
    Engine engine = engine(model);
    JsonNode prompts = goldenJson(model).get("prompts");
    for (int i = 0; i < prompts.size(); i++) {
      int[] tokens = goldenTokens(model, prompts.get(i));
      StepResult r =
          engine
              .step(List.of(new StepRequest(engine.newSequence(), tokens, StepRequest.Logits.ALL)))
              .get(0);
      assertClose(golden(model, "logits." + i), r.logits(), TOL, model + " logits." + i);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-a", "tiny-a-fp8", "brown-mtp"})
  void greedyContinuationsMatchTheGolden(String model) {
    Engine engine = engine(model);
    for (JsonNode p : goldenJson(model).get("prompts")) {
      String key = p.has("greedy_32") ? "greedy_32" : "greedy_20";
      int[] expected = ints(p.get(key));
      int[] actual = engine.generateGreedy(ints(p.get("input_ids")), expected.length);
      assertArrayEquals(expected, actual, model + " " + key + " of " + p.get("input_ids"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tiny-a", "tiny-a-fp8"})
  void hiddenStatesAndRoutingOfPrompt2MatchTheGolden(String model) {
    CpuEngine engine = engine(model);
    int[] tokens = ints(goldenJson(model).get("prompts").get(2).get("input_ids"));
    Map<Integer, float[][]> hidden = new HashMap<>();
    Map<Integer, int[][]> routing = new HashMap<>();
    Trace trace =
        new Trace() {
          @Override
          public void hidden(int k, float[] x, int rows, int dim) {
            hidden.put(
                k,
                IntStream.range(0, rows)
                    .mapToObj(r -> Arrays.copyOfRange(x, r * dim, (r + 1) * dim))
                    .toArray(float[][]::new));
          }

          @Override
          public void routing(int layer, int[] experts, int rows, int topK) {
            routing.put(
                layer,
                IntStream.range(0, rows)
                    .mapToObj(
                        r -> Arrays.stream(experts, r * topK, (r + 1) * topK).sorted().toArray())
                    .toArray(int[][]::new));
          }
        };
    engine.step(
        List.of(new StepRequest(engine.newSequence(), tokens, StepRequest.Logits.NONE)), trace);
    int layers = engine.config().numHiddenLayers();
    for (int k = 0; k <= layers; k++) {
      assertClose(golden(model, "hidden.2." + k), hidden.get(k), TOL, model + " hidden.2." + k);
    }
    int checked = 0;
    for (int l = 0; l < layers; l++) {
      String name = "routing.2.layer" + l;
      if (hasGolden(model, name)) {
        float[][] g = golden(model, name);
        int[][] expected =
            Arrays.stream(g)
                .map(row -> IntStream.range(0, row.length).map(c -> Math.round(row[c])).toArray())
                .toArray(int[][]::new);
        assertArrayEquals(expected, routing.get(l), model + " " + name);
        checked++;
      }
    }
    assertTrue(checked > 0, "no routing goldens found for " + model);
  }

  @org.junit.jupiter.api.Test
  void mtpLogitsMatchTheGolden() {
    String model = "brown-mtp";
    Engine engine = engine(model);
    JsonNode prompts = goldenJson(model).get("prompts");
    for (int i = 0; i < prompts.size(); i++) {
      int[] tokens = goldenTokens(model, prompts.get(i));
      Sequence seq = engine.newSequence();
      StepResult main =
          engine.step(List.of(new StepRequest(seq, tokens, StepRequest.Logits.NONE))).get(0);
      float[][] expected = golden(model, "mtp_logits." + i);
      int rows = expected.length;
      HiddenStates hidden = main.hidden().slice(0, rows);
      int[] next = Arrays.copyOfRange(tokens, 1, rows + 1);
      float[][] mtp = engine.mtp(List.of(new MtpRequest(seq, hidden, next))).get(0);
      assertClose(expected, mtp, TOL, model + " mtp_logits." + i);
      int[] draft = ints(prompts.get(i).get("mtp_draft"));
      for (int j = 0; j < Math.min(draft.length, rows); j++) {
        assertEquals(draft[j], Engine.argmax(mtp[j]), "mtp_draft[" + j + "] of prompt " + i);
      }
    }
  }
}
