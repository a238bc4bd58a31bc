package io.latentstream.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentstream.engine.Engine;
import io.latentstream.model.ExpertLoad;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.testing.SharedData;
import io.latentstream.testing.TestEngines;
import io.latentstream.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The generation loop on the trained brown-mtp checkpoint, against its goldens and itself. What
 * holds for any engine (lossless drafting, batch invariance, resuming, session turns) is tested on
 * both backends: the CPU engine and the CUDA engine on the tests' emulated device. The goldens'
 * tokens are the CPU engine's to match (the device's bf16 may tip a near-tie).
 */
class GenerationLoopTest {
  private static Engine engine;
  private static Tokenizer tokenizer;
  private static List<int[]> prompts;
  private static List<int[]> greedy32;

  @BeforeAll
  static void load() throws Exception {
    engine = engine("cpu");
    tokenizer = Tokenizer.load(SharedData.model("brown-mtp"));
    prompts = new ArrayList<>();
    greedy32 = new ArrayList<>();
    for (JsonNode prompt : SharedData.goldenJson("brown-mtp").get("prompts")) {
      prompts.add(SharedData.ints(prompt.get("input_ids")));
      greedy32.add(SharedData.ints(prompt.get("greedy_32")));
    }
  }

  /** The engine of a backend: {@code cpu}, or {@code cuda} on the emulated device. */
  private static Engine engine(String backend) {
    return TestEngines.brownMtp(backend);
  }

  /** Collects what the loop hands out, per request. */
  private static final class Recorder implements GenerationListener {
    final Map<String, List<TokenEmission>> tokens = new HashMap<>();
    final Map<String, GenerationOutcome> outcomes = new HashMap<>();

    /** Each finished sequence's latents, copied out while the loop still holds it. */
    final Map<String, byte[]> latents = new HashMap<>();

    @Override
    public void onToken(TokenEmission token) {
      tokens.computeIfAbsent(token.requestId(), id -> new ArrayList<>()).add(token);
    }

    @Override
    public void onFinished(GenerationOutcome outcome) {
      outcomes.put(outcome.requestId(), outcome);
      latents.put(
          outcome.requestId(), outcome.sequence().exportRange(0, outcome.sequence().length()));
    }

    int[] ids(String requestId) {
      return tokens.get(requestId).stream().mapToInt(TokenEmission::tokenId).toArray();
    }

    float[] logprobs(String requestId) {
      List<TokenEmission> list = tokens.get(requestId);
      float[] out = new float[list.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = list.get(i).logprob();
      }
      return out;
    }
  }

  private static Recorder run(boolean mtp, Tokenizer tok, List<GenerationRequest> requests) {
    return run(engine, null, mtp, tok, requests);
  }

  private static Recorder run(
      Engine on, boolean mtp, Tokenizer tok, List<GenerationRequest> requests) {
    return run(on, null, mtp, tok, requests);
  }

  /** As {@link #run(boolean, Tokenizer, List)}, with a drafting engine and a pinned draft gate. */
  private static Recorder run(
      Engine drafter,
      Float minConfidence,
      boolean mtp,
      Tokenizer tok,
      List<GenerationRequest> requests) {
    Recorder recorder = new Recorder();
    try (GenerationLoop loop =
        new GenerationLoop(drafter, tok, new GenerationLoop.Settings(32, 256, mtp))) {
      if (minConfidence != null) {
        loop.pinDraftConfidence(minConfidence);
      }
      for (GenerationRequest request : requests) {
        loop.submit(request, recorder);
      }
      loop.runUntilIdle();
    }
    return recorder;
  }

  private static List<GenerationRequest> greedyRequests(int maxNewTokens) {
    List<GenerationRequest> requests = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      requests.add(
          GenerationRequest.of("p" + i, prompts.get(i), SamplingParams.greedy(maxNewTokens)));
    }
    return requests;
  }

  /** Without a tokenizer the loop does not stop at EOS, as the goldens' argmax does not. */
  @Test
  void batchedGreedyGenerationEqualsTheGoldenWithAndWithoutMtp() {
    for (boolean mtp : new boolean[] {false, true}) {
      Recorder recorder = run(mtp, null, greedyRequests(32));
      for (int i = 0; i < prompts.size(); i++) {
        assertArrayEquals(greedy32.get(i), recorder.ids("p" + i), "prompt " + i + " mtp " + mtp);
        assertEquals(FinishReason.LENGTH, recorder.outcomes.get("p" + i).finishReason());
      }
    }
  }

  /** Speculative decoding is lossless: 256 greedy tokens are identical with and without MTP. */
  @Test
  void mtpDraftingLeavesLongGreedyGenerationsUnchanged() {
    Recorder plain = run(false, null, greedyRequests(256));
    Recorder drafted = run(true, null, greedyRequests(256));
    int accepted = 0;
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(plain.ids("p" + i), drafted.ids("p" + i), "prompt " + i);
      assertArrayEquals(plain.logprobs("p" + i), drafted.logprobs("p" + i), "prompt " + i);
      GenerationOutcome outcome = drafted.outcomes.get("p" + i);
      assertTrue(outcome.accepted() <= outcome.drafted());
      accepted += outcome.accepted();
      long fromDraft =
          drafted.tokens.get("p" + i).stream().filter(TokenEmission::fromDraft).count();
      assertEquals(outcome.accepted(), fromDraft);
    }
    assertTrue(accepted > 0, "MTP drafts were never accepted");
  }

  /**
   * Sampled requests too: drafting changes how many steps a generation takes, never its tokens, so
   * a request resumed without its draft (a failover) or replayed without MTP continues bitwise.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void mtpDraftingLeavesSampledGenerationsUnchanged(String backend) throws Exception {
    Engine on = engine(backend);
    List<GenerationRequest> requests = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      SamplingParams params = new SamplingParams(0.7, 0.95, 0, 77 + i, 48, List.of());
      requests.add(new GenerationRequest("s" + i, prompts.get(i), 0, params, true, null));
    }
    Recorder plain = run(on, false, null, requests);
    Recorder drafted = run(on, true, null, requests);
    int accepted = 0;
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(plain.ids("s" + i), drafted.ids("s" + i), "prompt " + i);
      assertArrayEquals(plain.logprobs("s" + i), drafted.logprobs("s" + i), "prompt " + i);
      accepted += drafted.outcomes.get("s" + i).accepted();
    }
    assertTrue(accepted > 0, "MTP drafts were never accepted");
  }

  /**
   * Whatever the drafting settings (full or pruned draft vocabulary, any minimum confidence),
   * greedy and sampled tokens and logprobs are those of a run without MTP: the draft is one token
   * (a one-hot q), so the draw from the main model's p decides alone. Gating drafts by confidence
   * proposes fewer of them and has more of them accepted.
   */
  @Test
  void draftVocabularyAndConfidenceChangeOnlyTheSteps() {
    List<GenerationRequest> requests = new ArrayList<>(greedyRequests(64));
    for (int i = 0; i < prompts.size(); i++) {
      SamplingParams params = new SamplingParams(0.8, 0.9, 0, 5 + i, 48, List.of());
      requests.add(new GenerationRequest("s" + i, prompts.get(i), 0, params, true, null));
    }
    Recorder plain = run(false, null, requests);
    int vocab = engine.config().vocabSize();
    long[][] counts = new long[3][];
    Engine[] drafters = {engine.withDraftVocab(vocab), engine, engine.withDraftVocab(64)};
    float[] confidences = {0, 0.4f, 0};
    for (int d = 0; d < drafters.length; d++) {
      Recorder drafted = run(drafters[d], confidences[d], true, null, requests);
      long proposed = 0;
      long accepted = 0;
      for (GenerationRequest request : requests) {
        String id = request.requestId();
        assertArrayEquals(plain.ids(id), drafted.ids(id), id + " with drafter " + d);
        assertArrayEquals(plain.logprobs(id), drafted.logprobs(id), id + " with drafter " + d);
        proposed += drafted.outcomes.get(id).drafted();
        accepted += drafted.outcomes.get(id).accepted();
      }
      assertTrue(accepted > 0, "drafter " + d + " had no draft accepted");
      counts[d] = new long[] {proposed, accepted};
    }
    assertTrue(counts[1][0] < counts[0][0], "the confidence gate proposed fewer drafts");
    assertTrue(
        counts[1][1] * counts[0][0] > counts[0][1] * counts[1][0],
        "gated drafts are accepted more often: " + Arrays.deepToString(counts));
  }

  @Test
  void generationStopsAtEndOfSentenceAndStreamsTheText() {
    GenerationRequest jury =
        GenerationRequest.of("jury", prompts.get(0), SamplingParams.greedy(32));
    Recorder recorder = run(true, tokenizer, List.of(jury));
    int eos = Arrays.stream(greedy32.get(0)).boxed().toList().indexOf(tokenizer.eosId());
    assertTrue(eos > 0, "the golden continuation contains EOS");
    assertArrayEquals(Arrays.copyOf(greedy32.get(0), eos + 1), recorder.ids("jury"));
    assertEquals(FinishReason.STOP, recorder.outcomes.get("jury").finishReason());
    StringBuilder text = new StringBuilder();
    recorder.tokens.get("jury").forEach(token -> text.append(token.textDelta()));
    assertEquals(tokenizer.decode(recorder.ids("jury"), true), text.toString());
  }

  @Test
  void aStopStringEndsTheGenerationBeforeIt() {
    SamplingParams params = new SamplingParams(0, 1, 0, 0, 32, List.of(" be"));
    Recorder recorder =
        run(
            true,
            tokenizer,
            List.of(new GenerationRequest("s", prompts.get(0), 0, params, true, null)));
    StringBuilder text = new StringBuilder();
    recorder.tokens.get("s").forEach(token -> text.append(token.textDelta()));
    String full = tokenizer.decode(greedy32.get(0), true);
    assertEquals(full.substring(0, full.indexOf(" be")), text.toString());
    assertEquals(FinishReason.STOP, recorder.outcomes.get("s").finishReason());
  }

  /** A request's sampled tokens do not depend on what shares its batch. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void sampledTokensAreIndependentOfTheBatch(String backend) throws Exception {
    Engine on = engine(backend);
    SamplingParams params = new SamplingParams(0.8, 0.95, 40, 1234, 40, List.of());
    GenerationRequest alone = new GenerationRequest("x", prompts.get(1), 0, params, true, null);
    Recorder single = run(on, true, null, List.of(alone));
    List<GenerationRequest> crowd = new ArrayList<>(greedyRequests(24));
    crowd.add(2, alone);
    Recorder batched = run(on, true, null, crowd);
    assertArrayEquals(single.ids("x"), batched.ids("x"));
    assertArrayEquals(single.logprobs("x"), batched.logprobs("x"));
  }

  /**
   * Issue 8: a request's token ids and logprobs are bitwise the same generated alone and in steps
   * of at most 1, 7 and 32 sequences shared with other traffic (prompts of other lengths, other
   * sampling, requests joining and leaving, prefill chunks cut differently). Few tokens: the
   * batching changes at every step, so a handful of steps exercises it.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void tokensAndLogprobsAreIndependentOfBatchSizeAndTraffic(String backend) throws Exception {
    Engine on = engine(backend);
    int newTokens = 6;
    List<GenerationRequest> probes = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      SamplingParams sampled = new SamplingParams(0.9, 0.95, 0, 500 + i, newTokens, List.of());
      probes.add(new GenerationRequest("sampled" + i, prompts.get(i), 0, sampled, true, null));
      probes.add(GenerationRequest.of("greedy" + i, prompts.get(i), SamplingParams.greedy(4)));
    }
    Map<String, Recorder> alone = new HashMap<>();
    for (GenerationRequest probe : probes) {
      alone.put(probe.requestId(), runIn(on, 1, List.of(probe)));
    }
    for (int batch : new int[] {1, 7, 32}) {
      List<GenerationRequest> mixed = new ArrayList<>();
      int next = 0;
      for (int j = 0; j < 40; j++) {
        int[] base = prompts.get(j % prompts.size());
        int[] prompt = concat(base, Arrays.copyOf(greedy32.get(j % prompts.size()), j % 23));
        SamplingParams params =
            j % 3 == 0
                ? SamplingParams.greedy(1 + j % 9)
                : new SamplingParams(1.0, 0.9, 20, j, 1 + j % 11, List.of());
        mixed.add(new GenerationRequest("traffic" + j, prompt, 0, params, j % 2 == 0, null));
        if (j % 5 == 2 && next < probes.size()) {
          mixed.add(probes.get(next++)); // probes join while the traffic runs
        }
      }
      mixed.addAll(probes.subList(next, probes.size()));
      Recorder together = runIn(on, batch, mixed);
      for (GenerationRequest probe : probes) {
        String id = probe.requestId();
        assertArrayEquals(alone.get(id).ids(id), together.ids(id), id + " in batches of " + batch);
        assertArrayEquals(
            alone.get(id).logprobs(id), together.logprobs(id), id + " in batches of " + batch);
      }
    }
  }

  /** Runs {@code requests} with at most {@code maxRunning} sequences per step. */
  private static Recorder runIn(Engine on, int maxRunning, List<GenerationRequest> requests) {
    Recorder recorder = new Recorder();
    try (GenerationLoop loop =
        new GenerationLoop(on, null, new GenerationLoop.Settings(maxRunning, 64, true))) {
      for (GenerationRequest request : requests) {
        loop.submit(request, recorder);
      }
      loop.runUntilIdle();
      assertEquals(requests.size(), recorder.outcomes.size());
    }
    return recorder;
  }

  /** A resumed request continues exactly where an undisturbed run would have gone. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void aResumedRequestContinuesTheUndisturbedRun(String backend) throws Exception {
    Engine on = engine(backend);
    SamplingParams params = new SamplingParams(1.0, 1, 0, 99, 30, List.of());
    int[] prompt = prompts.get(2);
    Recorder whole =
        run(on, true, null, List.of(new GenerationRequest("r", prompt, 0, params, true, null)));
    int[] all = whole.ids("r");
    int k = 11;
    int[] context = Arrays.copyOf(prompt, prompt.length + k);
    System.arraycopy(all, 0, context, prompt.length, k);
    Recorder resumed =
        run(on, true, null, List.of(new GenerationRequest("r", context, k, params, true, null)));
    assertArrayEquals(Arrays.copyOfRange(all, k, all.length), resumed.ids("r"));
    assertEquals(k, resumed.tokens.get("r").get(0).index());
  }

  /** A second turn on a session's cached sequence equals a fresh run over the whole history. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void aSessionTurnReusesTheCacheAndEqualsAFreshRun(String backend) throws Exception {
    Engine on = engine(backend);
    Recorder first =
        run(
            true,
            null,
            List.of(GenerationRequest.of("t1", prompts.get(0), SamplingParams.greedy(12))));
    GenerationOutcome turn1 = first.outcomes.get("t1");
    int[] history = concat(prompts.get(0), turn1.tokens());
    int[] secondTurn = concat(history, tokenizer.encode(" Then the jury"));
    Recorder cached =
        run(
            true,
            null,
            List.of(
                new GenerationRequest(
                    "t2",
                    secondTurn,
                    0,
                    SamplingParams.greedy(12),
                    true,
                    first.latents.get("t1"))));
    Recorder fresh =
        run(
            on,
            true,
            null,
            List.of(GenerationRequest.of("t2", secondTurn, SamplingParams.greedy(12))));
    assertArrayEquals(fresh.ids("t2"), cached.ids("t2"));
    assertEquals(history.length - 1, cached.outcomes.get("t2").cachedPromptTokens());
  }

  /**
   * The step observer sees every forward row, and the routers count each row once per chosen
   * expert: in every MoE layer the per-expert counts grow by exactly rows x experts per token (on
   * the device too, where moe_group counts and each step copies the totals out).
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void stepObserverAndExpertLoadCountEveryRoutedRow(String backend) throws Exception {
    Engine engine = engine(backend);
    ExpertLoad load = engine.expertLoad();
    int layers = engine.config().numHiddenLayers();
    int topK = engine.config().numExpertsPerTok();
    long[] before = new long[load.layerCount()];
    for (int i = 0; i < load.layerCount(); i++) {
      for (int e = 0; e < load.experts(); e++) {
        before[i] += load.routed(i, e);
      }
    }
    List<GenerationLoop.StepStats> steps = new ArrayList<>();
    Recorder recorder = new Recorder();
    try (GenerationLoop loop =
        new GenerationLoop(engine, null, new GenerationLoop.Settings(32, 256, true))) {
      loop.observe(steps::add);
      for (GenerationRequest request : greedyRequests(12)) {
        loop.submit(request, recorder);
      }
      loop.runUntilIdle();
      assertEquals(loop.stats().steps(), steps.size());
    }
    long rows = steps.stream().mapToLong(GenerationLoop.StepStats::tokens).sum();
    long draftRows = steps.stream().mapToLong(GenerationLoop.StepStats::draftRows).sum();
    long prompted = prompts.stream().mapToLong(p -> p.length).sum();
    assertTrue(rows >= prompted + 11L * prompts.size(), "rows " + rows);
    assertTrue(draftRows > 0);
    assertEquals(
        engine.config().numHiddenLayers() - engine.config().firstKDenseReplace() + 1,
        load.layerCount());
    for (int i = 0; i < load.layerCount(); i++) {
      long sum = -before[i];
      for (int e = 0; e < load.experts(); e++) {
        sum += load.routed(i, e);
      }
      long expected = (load.layer(i) == layers ? draftRows : rows) * topK;
      assertEquals(expected, sum, "layer " + load.layer(i));
    }
    for (GenerationLoop.StepStats step : steps) {
      assertTrue(
          step.forwardNanos() > 0 && step.totalNanos() >= step.forwardNanos() + step.draftNanos());
    }
  }

  /**
   * The generated-tokens counter follows emission, step by step (benchmarks take its rate over a
   * window of a run), not retirement: after every step it equals what the listeners were handed.
   */
  @Test
  void generatedTokensCountEachTokenAsItIsEmitted() {
    Recorder recorder = new Recorder();
    List<Long> seenAtSteps = new ArrayList<>();
    List<Long> countedAtSteps = new ArrayList<>();
    try (GenerationLoop loop =
        new GenerationLoop(engine, null, new GenerationLoop.Settings(32, 256, true))) {
      loop.observe(
          step -> {
            seenAtSteps.add(recorder.tokens.values().stream().mapToLong(List::size).sum());
            countedAtSteps.add(loop.stats().generatedTokens());
          });
      for (GenerationRequest request : greedyRequests(12)) {
        loop.submit(request, recorder);
      }
      loop.runUntilIdle();
    }
    assertEquals(seenAtSteps, countedAtSteps);
    assertEquals(12L * prompts.size(), seenAtSteps.get(seenAtSteps.size() - 1));
  }

  private static int[] concat(int[] a, int[] b) {
    int[] both = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }
}
