package io.latentstream.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.engine.CacheCapacity;
import io.latentstream.engine.Engine;
import io.latentstream.engine.HiddenStates;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.model.Phase;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.sampling.TokenDistribution;
import io.latentstream.scheduler.FinishReason;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.testing.EmulatedDevice;
import io.latentstream.testing.SharedData;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link CudaEngine} behind the {@link Engine} interface, on the emulated device with brown-mtp:
 * its sequences move through the session cache's bytes and roll back bitwise, the generation loop
 * drives it with MTP drafting losslessly, and finished sequences give their pages back.
 */
class CudaEngineTest {
  @RegisterExtension static final EmulatedDevice emulated = new EmulatedDevice();

  private static final int NEW_TOKENS = 12;

  private static CudaEngine load(int maxTokens) throws Exception {
    return CudaEngine.load(emulated.get(), SharedData.model("brown-mtp"), 256, maxTokens);
  }

  private static float[] last(Engine engine, Sequence s, int[] tokens) {
    return engine
        .step(List.of(new StepRequest(s, tokens, StepRequest.Logits.LAST)))
        .get(0)
        .logits()[0];
  }

  @Test
  void sequencesMoveThroughBytesAndRollBackBitwise() throws Exception {
    Engine engine = load(4096);
    int[] prompt = new SplittableRandom(3).ints(100, 0, engine.config().vocabSize()).toArray();
    Sequence original = engine.newSequence();
    engine.step(List.of(new StepRequest(original, prompt, StepRequest.Logits.NONE)));
    // Three rejected drafts, rolled back.
    engine.step(List.of(new StepRequest(original, new int[] {5, 6, 7}, StepRequest.Logits.NONE)));
    original.truncate(prompt.length);
    // The latents moved out in two pieces (two turns of a session) and into a fresh sequence.
    byte[] head = original.exportRange(0, 70);
    byte[] tail = original.exportRange(70, prompt.length);
    assertEquals(prompt.length * engine.bytesPerToken(), head.length + tail.length);
    Sequence moved = engine.newSequence();
    moved.importRange(0, head);
    moved.importRange(70, tail);
    assertEquals(prompt.length, moved.length());
    assertArrayEquals(last(engine, original, new int[] {42}), last(engine, moved, new int[] {42}));
    assertThrows(IllegalArgumentException.class, () -> moved.exportRange(0, moved.length() + 1));
    original.release();
    moved.release();
  }

  /** Graphed steps are padded to few sizes: 1, 2, 4, 8, then multiples of 8, within maxRows. */
  @Test
  void graphedStepsArePaddedToBuckets() {
    int[] rows = {1, 2, 3, 5, 8, 9, 16, 17, 250, 250};
    int[] max = {256, 256, 256, 256, 256, 256, 256, 256, 256, 250};
    int[] expected = {1, 2, 4, 8, 8, 16, 16, 24, 256, 250};
    for (int i = 0; i < rows.length; i++) {
      assertEquals(expected[i], CudaEngine.bucket(rows[i], max[i]), rows[i] + " of " + max[i]);
    }
  }

  /** Truncating gives the pages past the kept tokens back to the pool, and the sequence regrows. */
  @Test
  void truncateGivesPagesBack() throws Exception {
    CudaEngine engine = load(4096);
    int free = engine.freePages();
    Sequence seq = engine.newSequence();
    int[] prompt = new SplittableRandom(9).ints(130, 0, engine.config().vocabSize()).toArray();
    float[] expected = last(engine, seq, prompt);
    assertEquals(free - 3, engine.freePages(), "130 tokens in 64-token pages");
    seq.truncate(64);
    assertEquals(free - 1, engine.freePages());
    last(engine, seq, java.util.Arrays.copyOfRange(prompt, 64, 129));
    assertArrayEquals(expected, last(engine, seq, new int[] {prompt[129]}));
    assertEquals(free - 3, engine.freePages());
    seq.release();
    assertEquals(free, engine.freePages());
  }

  /**
   * A greedy choice is made on the device: the step returns the token and its logprob, no logits,
   * and they are the argmax and log-softmax of the logits a plain request gets.
   */
  @Test
  void greedyChoicesStayOnTheDeviceAndMatchTheLogits() throws Exception {
    CudaEngine engine = load(1024);
    int[] prompt = {0, 478, 4717, 557};
    Sequence plain = engine.newSequence();
    Sequence chosen = engine.newSequence();
    StepRequest.Choice greedy = new StepRequest.Choice(SamplingParams.greedy(8), 0);
    List<StepResult> results =
        engine.step(
            List.of(
                new StepRequest(plain, prompt, StepRequest.Logits.LAST),
                new StepRequest(chosen, prompt, StepRequest.Logits.LAST, greedy)));
    float[] logits = results.get(0).logits()[0];
    StepResult choice = results.get(1);
    assertEquals(null, choice.logits());
    assertEquals(Engine.argmax(logits), choice.tokens()[0]);
    assertEquals(TokenDistribution.logprob(logits, choice.tokens()[0]), choice.logprobs()[0], 1e-5);
    plain.release();
    chosen.release();
  }

  /**
   * A decode step through the Engine interface replays its shape's CUDA graph: one launch from Java
   * instead of one per kernel, and bitwise the logits of launching each kernel.
   */
  @Test
  void decodeStepsReplayCudaGraphsWithTheSameLogits() throws Exception {
    CudaEngine engine = load(1024);
    CudaDevice device = emulated.get();
    int[] prompt = {0, 478, 4717, 557};
    float[][] logits = new float[2][];
    long[] launches = new long[2];
    for (int way = 0; way < 2; way++) {
      engine.useGraphs(way == 0);
      Sequence s = engine.newSequence();
      last(engine, s, prompt);
      last(engine, s, new int[] {42}); // the first step of its shape: captured when graphs are on
      long before = device.launches();
      logits[way] = last(engine, s, new int[] {43});
      launches[way] = device.launches() - before;
      s.release();
    }
    assertArrayEquals(logits[1], logits[0]);
    assertEquals(1, launches[0], "one graph replay");
    assertTrue(launches[1] > 20, launches[1] + " kernel launches without graphs");
    engine.useGraphs(true);
  }

  @Test
  void theLoopDraftsWithMtpLosslesslyAndGivesPagesBack() throws Exception {
    // Room for two sequences of up to 128 tokens: eight requests one after another fit only if
    // each finished one gives its pages back.
    CudaEngine engine = load(256);
    List<int[]> prompts = goldenPrompts();
    Map<String, int[]> plain = generate(engine, prompts, false);
    Map<String, int[]> drafted = generate(engine, prompts, true);
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(plain.get("p" + i), drafted.get("p" + i), "prompt " + i + " with MTP");
      assertArrayEquals(
          engine.generateGreedy(prompts.get(i), NEW_TOKENS),
          plain.get("p" + i),
          "prompt " + i + ": the loop's host argmax and the device's");
    }
  }

  /**
   * Prefill attention runs in tiles of a sequence's rows, and how a prompt is cut into chunks (the
   * scheduler's token budget, shared with other requests, decides) changes its tiles but not a bit
   * of its numbers: whole, in uneven chunks, or beside another sequence's rows.
   */
  @Test
  void aPromptsNumbersDoNotDependOnItsChunks() throws Exception {
    CudaEngine engine = load(4096);
    int vocab = engine.config().vocabSize();
    int[] prompt = new SplittableRandom(11).ints(45, 0, vocab).toArray();
    Sequence whole = engine.newSequence();
    float[] expected = last(engine, whole, prompt);
    Sequence chunked = engine.newSequence();
    Sequence other = engine.newSequence();
    float[] got = null;
    int at = 0;
    for (int n : new int[] {3, 7, 1, 2, 13, 19}) {
      int[] chunk = java.util.Arrays.copyOfRange(prompt, at, at + n);
      int[] beside = new SplittableRandom(at).ints(5, 0, vocab).toArray();
      got =
          engine
              .step(
                  List.of(
                      new StepRequest(other, beside, StepRequest.Logits.NONE),
                      new StepRequest(chunked, chunk, StepRequest.Logits.LAST)))
              .get(1)
              .logits()[0];
      at += n;
    }
    assertEquals(prompt.length, at);
    assertArrayEquals(expected, got);
    whole.release();
    chunked.release();
    other.release();
  }

  /**
   * A step's hidden states stay on the device for the draft that follows: drafting from them there
   * gives the drafts and MTP cache that the same states copied to the host and uploaded give, and
   * once the next step has run they are gone (reading them is an error, not stale numbers).
   */
  @Test
  void draftsReadTheStepsHiddenStatesWhereTheyAre() throws Exception {
    CudaEngine engine = load(4096);
    int[] prompt = new SplittableRandom(5).ints(40, 0, engine.config().vocabSize()).toArray();
    int[] next = java.util.Arrays.copyOfRange(prompt, 1, prompt.length);
    Sequence onDevice = engine.newSequence();
    HiddenStates hidden =
        engine
            .step(List.of(new StepRequest(onDevice, prompt, StepRequest.Logits.NONE)))
            .get(0)
            .hidden()
            .slice(0, prompt.length - 1);
    float[][] copied = hidden.toArray();
    Sequence viaHost = engine.newSequence();
    viaHost.importRange(0, onDevice.exportRange(0, prompt.length));
    // Two requests over slices of the same step's rows, as the loop makes them.
    int[] fromDevice = engine.draft(List.of(new MtpRequest(onDevice, hidden, next)), 0f);
    int[] fromHost = engine.draft(List.of(new MtpRequest(viaHost, copied, next)), 0f);
    assertArrayEquals(fromHost, fromDevice);
    assertEquals(viaHost.mtpLength(), onDevice.mtpLength());
    assertArrayEquals(
        last(engine, viaHost, new int[] {fromHost[0]}),
        last(engine, onDevice, new int[] {fromDevice[0]}));
    IllegalStateException gone = assertThrows(IllegalStateException.class, () -> hidden.row(0));
    assertTrue(gone.getMessage().contains("earlier step"), gone.getMessage());
    onDevice.release();
    viaHost.release();
  }

  /**
   * Phase timings come from the device, graphed passes included: after a decode shape has been
   * profiled and captured, steps that replay its graph (one launch each) still add GPU time to
   * every phase, split as the profiled pass was.
   */
  @Test
  void graphedPassesAddDeviceTimeToEveryPhase() throws Exception {
    CudaEngine engine = load(4096);
    Sequence seq = engine.newSequence();
    int[] prompt = new SplittableRandom(7).ints(20, 0, engine.config().vocabSize()).toArray();
    last(engine, seq, prompt);
    for (int i = 0; i < 3; i++) { // the shape's first pass profiled, the second captured
      last(engine, seq, new int[] {i + 1});
    }
    long[] before = phaseNanos(engine);
    long launches = emulated.get().launches();
    for (int i = 0; i < 4; i++) {
      last(engine, seq, new int[] {i + 11});
    }
    assertEquals(4, emulated.get().launches() - launches, "each step replayed its graph");
    long[] after = phaseNanos(engine);
    for (Phase phase : Phase.values()) {
      assertTrue(
          after[phase.ordinal()] > before[phase.ordinal()],
          phase + ": " + before[phase.ordinal()] + " -> " + after[phase.ordinal()] + " ns");
    }
    seq.release();
  }

  private static long[] phaseNanos(Engine engine) {
    return java.util.Arrays.stream(Phase.values()).mapToLong(engine::phaseNanos).toArray();
  }

  /**
   * Admission control: in a pool of 4 pages (256 tokens), requests that may grow to 2 pages each
   * run at most 2 at a time however many the loop may run, the others waiting for pages, and all
   * finish. (Without it all four start, and the first to need a second page finds none: that step's
   * requests fail.) A request larger than the whole pool is refused when submitted.
   */
  @Test
  void aFullPagePoolMakesRequestsWaitNeverFail() throws Exception {
    CudaEngine engine = load(256);
    assertEquals(new CacheCapacity(64, 4), engine.cacheCapacity());
    List<int[]> prompts = goldenPrompts();
    int newTokens = 60; // prompts of 4 to 7 tokens, 60 new ones and a draft row: two pages
    Recorder listener = new Recorder();
    int[] mostAtOnce = {0};
    try (GenerationLoop loop =
        new GenerationLoop(engine, null, new GenerationLoop.Settings(8, 256, true))) {
      loop.observe(step -> mostAtOnce[0] = Math.max(mostAtOnce[0], step.sequences()));
      for (int i = 0; i < prompts.size(); i++) {
        loop.submit(
            GenerationRequest.of("r" + i, prompts.get(i), SamplingParams.greedy(newTokens)),
            listener);
      }
      IllegalArgumentException tooLarge =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  loop.submit(
                      GenerationRequest.of("huge", prompts.get(0), SamplingParams.greedy(300)),
                      listener));
      assertTrue(tooLarge.getMessage().contains("latent cache holds 256"), tooLarge.getMessage());
      loop.runUntilIdle();
    }
    for (int i = 0; i < prompts.size(); i++) {
      GenerationOutcome outcome = listener.outcomes.get("r" + i);
      assertEquals(FinishReason.LENGTH, outcome.finishReason(), "r" + i + " " + outcome);
      assertEquals(newTokens, listener.tokens.get("r" + i).size(), "r" + i);
    }
    assertEquals(2, mostAtOnce[0], "two requests of two pages each fill the pool");
  }

  /** brown-mtp's golden prompts. */
  private static List<int[]> goldenPrompts() {
    List<int[]> prompts = new ArrayList<>();
    for (var p : SharedData.goldenJson("brown-mtp").get("prompts")) {
      prompts.add(SharedData.ints(p.get("input_ids")));
    }
    return prompts;
  }

  /** What a generation loop hands out: each request's token ids and its outcome. */
  private static final class Recorder implements GenerationListener {
    final Map<String, List<Integer>> tokens = new HashMap<>();
    final Map<String, GenerationOutcome> outcomes = new HashMap<>();

    @Override
    public void onToken(TokenEmission token) {
      tokens.computeIfAbsent(token.requestId(), k -> new ArrayList<>()).add(token.tokenId());
    }

    @Override
    public void onFinished(GenerationOutcome outcome) {
      outcomes.put(outcome.requestId(), outcome);
    }
  }

  /** Greedy generations of the prompts, one request at a time, through a generation loop. */
  private static Map<String, int[]> generate(Engine engine, List<int[]> prompts, boolean mtp) {
    Recorder listener = new Recorder();
    try (GenerationLoop loop =
        new GenerationLoop(engine, null, new GenerationLoop.Settings(1, 256, mtp))) {
      for (int i = 0; i < prompts.size(); i++) {
        loop.submit(
            GenerationRequest.of("p" + i, prompts.get(i), SamplingParams.greedy(NEW_TOKENS)),
            listener);
        loop.runUntilIdle();
      }
    }
    Map<String, int[]> out = new HashMap<>();
    listener.tokens.forEach(
        (id, list) -> out.put(id, list.stream().mapToInt(Integer::intValue).toArray()));
    return out;
  }
}
