package io.latentstream.ops.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.model.ModelConfig;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.scheduler.FinishReason;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.testing.SharedModels;
import io.latentstream.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What {@code bench-pipeline --engine synthetic} relies on: tokens that depend only on the seed and
 * the index, spread over the vocabulary without the end-of-sequence id (so every request runs to
 * max_new_tokens), and steps the generation loop drives as it drives a real engine.
 */
class SyntheticEngineTest {
  private static final Path MODEL = SharedModels.model("brown-mtp");

  @Test
  void tokensDependOnSeedAndIndexAloneAndAvoidTheEndOfSequence() throws Exception {
    ModelConfig config = ModelConfig.load(MODEL);
    SyntheticEngine engine = new SyntheticEngine(config, 1);
    SyntheticEngine another = new SyntheticEngine(config, 1);
    Set<Integer> seen = new HashSet<>();
    // 200,000 draws over 8,191 ids: an id missed by a uniform draw has odds of e^-24.
    for (int index = 0; index < 200_000; index++) {
      int token = engine.token(7, index);
      assertNotEquals(1, token, "drew the end-of-sequence id");
      assertEquals(token, another.token(7, index));
      seen.add(token);
    }
    assertEquals(config.vocabSize() - 1, seen.size(), "every other id is drawn");
    assertNotEquals(engine.token(7, 0), engine.token(8, 0));
  }

  @Test
  void aStepAnswersThePositionsItWasAskedFor() throws Exception {
    SyntheticEngine engine = new SyntheticEngine(ModelConfig.load(MODEL), 1);
    Sequence sequence = engine.newSequence();
    StepRequest.Choice choice = new StepRequest.Choice(SamplingParams.greedy(8), 3);
    List<StepResult> results =
        engine.step(
            List.of(
                new StepRequest(sequence, new int[] {5, 6, 7}, StepRequest.Logits.NONE, null),
                new StepRequest(sequence, new int[] {8, 9}, StepRequest.Logits.ALL, choice)));
    assertEquals(5, sequence.length());
    assertEquals(0, results.get(0).tokens().length);
    assertArrayEquals(new int[] {engine.token(0, 3), engine.token(0, 4)}, results.get(1).tokens());
    assertNull(results.get(1).logits(), "no logits leave the engine");
    assertEquals(5 * engine.bytesPerToken(), sequence.exportRange(0, 5).length);
  }

  @Test
  void theLoopRunsEveryRequestToItsMaxNewTokensWithText() throws Exception {
    Tokenizer tokenizer = Tokenizer.load(MODEL);
    SyntheticEngine engine =
        new SyntheticEngine(
            ModelConfig.load(MODEL), tokenizer.eosId() == null ? -1 : tokenizer.eosId());
    try (GenerationLoop loop =
        new GenerationLoop(engine, tokenizer, GenerationLoop.Settings.defaults())) {
      loop.start();
      CompletableFuture<GenerationOutcome> finished = new CompletableFuture<>();
      StringBuilder text = new StringBuilder();
      loop.submit(
          new GenerationRequest(
              "r",
              tokenizer.encode("The jury said", true),
              0,
              new SamplingParams(0.8, 0.95, 0, 42, 64, List.of()),
              true,
              null),
          new GenerationListener() {
            @Override
            public void onToken(TokenEmission token) {
              text.append(token.textDelta());
            }

            @Override
            public void onFinished(GenerationOutcome outcome) {
              finished.complete(outcome);
            }
          });
      GenerationOutcome outcome = finished.get(30, TimeUnit.SECONDS);
      assertEquals(FinishReason.LENGTH, outcome.finishReason());
      assertEquals(64, outcome.tokens().length);
      assertEquals(engine.token(42, 63), outcome.tokens()[63]);
      assertEquals(outcome.text(), text.toString());
    }
  }
}
