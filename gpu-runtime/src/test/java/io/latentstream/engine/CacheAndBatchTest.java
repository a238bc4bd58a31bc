package io.latentstream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.engine.StepRequest.Logits;
import io.latentstream.testing.TestEngines;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The cache and batching contracts on brown-mtp, on both engines (the CUDA engine on the emulated
 * device). These are exact (bitwise) comparisons: the kernels give every output element the same
 * arithmetic whether its row is computed alone, in a prefill, or beside other sequences, so any
 * difference is a bug, not rounding.
 */
class CacheAndBatchTest {
  /** The sequences a test made, given back after it (the CUDA engine's pages are shared). */
  private static final List<Sequence> made = new ArrayList<>();

  private static Sequence fresh(Engine engine) {
    Sequence s = engine.newSequence();
    made.add(s);
    return s;
  }

  @AfterEach
  void releaseSequences() {
    made.forEach(Sequence::release);
    made.clear();
  }

  private static int[] randomTokens(Engine engine, Random rnd, int n) {
    return rnd.ints(n, 0, engine.config().vocabSize()).toArray();
  }

  private static float[][] prefill(Engine engine, int[] tokens) {
    return engine.step(List.of(new StepRequest(fresh(engine), tokens, Logits.ALL))).get(0).logits();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void incrementalDecodingEqualsAFullRecompute(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    int[] tokens = randomTokens(engine, new Random(1), 40);
    float[][] full = prefill(engine, tokens);
    Sequence seq = fresh(engine);
    // A prefill of 5, then chunks of 1, 3 and 1 tokens: every split must give the same numbers.
    int[] splits = {5, 1, 3, 1, 1, 1, 3, 25};
    int pos = 0;
    for (int n : splits) {
      int[] chunk = Arrays.copyOfRange(tokens, pos, pos + n);
      float[][] got = engine.step(List.of(new StepRequest(seq, chunk, Logits.ALL))).get(0).logits();
      for (int i = 0; i < n; i++) {
        assertArrayEquals(full[pos + i], got[i], "logits at position " + (pos + i));
      }
      pos += n;
    }
    assertEquals(tokens.length, seq.length());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void aBatchOfSequencesAtDifferentPositionsEqualsEachAlone(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    Random rnd = new Random(2);
    int n = 5;
    List<int[]> prompts = new ArrayList<>();
    List<int[]> next = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      prompts.add(randomTokens(engine, rnd, 1 + 7 * i));
      next.add(randomTokens(engine, rnd, 1 + i % 3));
    }
    List<float[][]> alone = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Sequence s = fresh(engine);
      engine.step(List.of(new StepRequest(s, prompts.get(i), Logits.NONE)));
      alone.add(engine.step(List.of(new StepRequest(s, next.get(i), Logits.ALL))).get(0).logits());
    }
    List<Sequence> seqs = new ArrayList<>();
    List<StepRequest> prefill = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      seqs.add(fresh(engine));
      prefill.add(new StepRequest(seqs.get(i), prompts.get(i), Logits.NONE));
    }
    engine.step(prefill);
    List<StepRequest> step = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      step.add(new StepRequest(seqs.get(i), next.get(i), Logits.ALL));
    }
    List<StepResult> batched = engine.step(step);
    for (int i = 0; i < n; i++) {
      float[][] a = alone.get(i);
      float[][] b = batched.get(i).logits();
      for (int r = 0; r < a.length; r++) {
        assertArrayEquals(a[r], b[r], "sequence " + i + " row " + r);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void truncateRollsBackAndExportImportRoundTripsBitwise(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    int[] tokens = randomTokens(engine, new Random(3), 20);
    float[][] full = prefill(engine, tokens);
    Sequence seq = fresh(engine);
    engine.step(List.of(new StepRequest(seq, Arrays.copyOf(tokens, 12), Logits.NONE)));
    // A rejected draft: three wrong tokens appended, then rolled back.
    engine.step(List.of(new StepRequest(seq, new int[] {5, 6, 7}, Logits.NONE)));
    seq.truncate(12);
    // Move the cache through bytes in two chunks, as the service's state store does.
    Sequence moved = fresh(engine);
    moved.importRange(0, seq.exportRange(0, 5));
    moved.importRange(5, seq.exportRange(5, 12));
    assertEquals(12, moved.length());
    float[][] rest =
        engine
            .step(List.of(new StepRequest(moved, Arrays.copyOfRange(tokens, 12, 20), Logits.ALL)))
            .get(0)
            .logits();
    for (int i = 0; i < 8; i++) {
      assertArrayEquals(full[12 + i], rest[i], "position " + (12 + i));
    }
    assertEquals(12 * engine.bytesPerToken(), seq.exportRange(0, 12).length);
    // Consecutive exports concatenate into the export of their union (sessions store turn by turn).
    byte[] head = seq.exportRange(0, 5);
    byte[] tail = seq.exportRange(5, 12);
    byte[] joined = Arrays.copyOf(head, head.length + tail.length);
    System.arraycopy(tail, 0, joined, head.length, tail.length);
    assertArrayEquals(seq.exportRange(0, 12), joined);
    assertThrows(IllegalArgumentException.class, () -> seq.truncate(13));
  }

  /** 12 random tokens through the model, and the MTP logits of their first 11 positions. */
  private record MtpRun(int[] tokens, Sequence seq, float[][] hidden, float[][] mtpLogits) {
    static MtpRun of(Engine engine, long seed) {
      int[] tokens = randomTokens(engine, new Random(seed), 12);
      Sequence seq = fresh(engine);
      float[][] hidden =
          engine.step(List.of(new StepRequest(seq, tokens, Logits.NONE))).get(0).hidden().toArray();
      MtpRequest rows =
          new MtpRequest(seq, Arrays.copyOf(hidden, 11), Arrays.copyOfRange(tokens, 1, 12));
      return new MtpRun(tokens, seq, hidden, engine.mtp(List.of(rows)).get(0));
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void mtpIncrementalEqualsBatchedRows(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    MtpRun run = MtpRun.of(engine, 4);
    int[] tokens = run.tokens();
    Sequence seq = run.seq();
    float[][] hidden = run.hidden();
    float[][] all = run.mtpLogits();
    Sequence one = fresh(engine);
    for (int j = 0; j < 11; j++) {
      float[][] row =
          engine
              .mtp(
                  List.of(
                      new MtpRequest(one, new float[][] {hidden[j]}, new int[] {tokens[j + 1]})))
              .get(0);
      assertArrayEquals(all[j], row[0], "MTP row " + j);
    }
    assertEquals(11, one.mtpLength());
    one.importRange(0, seq.exportRange(0, 12));
    one.truncate(8);
    assertEquals(7, one.mtpLength(), "MTP entry 7 used token 8, which was rolled back");
  }

  /**
   * Drafting over a prefix of the vocabulary proposes the argmax of the full MTP logits restricted
   * to that prefix (the pruned head computes exactly those logits), or nothing when that token's
   * probability under softmax over the prefix is below the minimum confidence; the MTP cache
   * advances by every row fed, as with {@link Engine#mtp}.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void draftsAreTheArgmaxOfTheFullMtpLogitsOverTheDraftVocabulary(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    MtpRun run = MtpRun.of(engine, 5);
    int[] tokens = run.tokens();
    Sequence seq = run.seq();
    float[][] hidden = run.hidden();
    float[][] full = run.mtpLogits();
    int vocab = engine.config().vocabSize();
    int proposed = 0;
    for (int draftVocab : new int[] {vocab, 1000, 37}) {
      for (float minConfidence : new float[] {0f, 0.05f, 0.3f}) {
        Engine drafter = engine.withDraftVocab(draftVocab);
        Sequence other = fresh(engine);
        other.importRange(0, seq.exportRange(0, 12));
        for (int j = 0; j < 11; j += 5) {
          int rows = Math.min(5, 11 - j);
          int[] draft =
              drafter.draft(
                  List.of(
                      new MtpRequest(
                          other,
                          Arrays.copyOfRange(hidden, j, j + rows),
                          Arrays.copyOfRange(tokens, j + 1, j + 1 + rows))),
                  minConfidence);
          assertEquals(j + rows, other.mtpLength());
          float[] last = Arrays.copyOf(full[j + rows - 1], draftVocab);
          int expected = Engine.argmax(last);
          double sum = 0;
          for (float logit : last) {
            sum += Math.exp(logit - last[expected]);
          }
          boolean confident = 1 / sum >= minConfidence;
          if (Math.abs(1 / sum - minConfidence) > 1e-4) {
            assertEquals(confident ? expected : Engine.NO_DRAFT, draft[0], "row " + (j + rows));
            proposed += confident && minConfidence > 0 ? 1 : 0;
          }
        }
      }
    }
    assertTrue(proposed > 0, "no confident draft was tested");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"cpu", "cuda"})
  void tokensOutsideTheVocabularyAreRejected(String backend) {
    Engine engine = TestEngines.brownMtp(backend);
    Sequence seq = fresh(engine);
    int vocab = engine.config().vocabSize();
    assertThrows(
        IllegalArgumentException.class,
        () -> engine.step(List.of(new StepRequest(seq, new int[] {vocab}, Logits.LAST))));
    assertEquals(0, seq.length());
  }
}
