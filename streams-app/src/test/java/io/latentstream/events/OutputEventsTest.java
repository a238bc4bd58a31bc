package io.latentstream.events;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.FinishReason;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.SharedModels;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The events every output carries, as the service forwards them and replay writes them: the
 * emission's numbers, what generated it, every finish reason under its own name.
 */
class OutputEventsTest {
  private static final Instant AT = Instant.parse("2026-12-05T12:00:00Z");

  private static ServedModel model() throws Exception {
    return new ServedModel(
        Backends.cpu(SharedModels.model("brown-mtp")).engine(),
        null,
        null,
        "brown",
        "sha256:abc",
        "0.1.0");
  }

  @Test
  void aTokenEventCarriesTheEmissionAndWhatGeneratedIt() throws Exception {
    OutputEvents events = new OutputEvents(model());
    TokenEvent last =
        events.token(
            "r1",
            "s1",
            42,
            new TokenEmission("r1", 7, 1234, "ab", -0.5f, true, FinishReason.STOP),
            AT);
    assertEquals("r1", last.getRequestId());
    assertEquals("s1", last.getSessionId());
    assertEquals(7, last.getIndex());
    assertEquals(1234, last.getTokenId());
    assertEquals("ab", last.getTextDelta());
    assertEquals(-0.5f, last.getLogprob());
    assertTrue(last.getFromMtpDraft());
    assertEquals(io.latentstream.schemas.FinishReason.STOP, last.getFinishReason());
    assertEquals("brown", last.getModelId());
    assertEquals("sha256:abc", last.getWeightsDigest());
    assertEquals("0.1.0", last.getEngineVersion());
    assertEquals("cpu", last.getBackend());
    assertEquals(42, last.getSeed());
    assertEquals(AT, last.getProducedAt());
    TokenEmission mid = new TokenEmission("r1", 0, 5, "x", -1f, false, null);
    assertNull(events.token("r1", null, 42, mid, AT).getFinishReason());
  }

  /**
   * A request's tokens as chunks: one while they fit the bound, else cut where the next token would
   * exceed it; contiguous, the finish reason on the last only; and what Avro writes per token stays
   * within the estimate the cut uses.
   */
  @Test
  void chunksHoldConsecutiveTokensCutToTheBound() throws Exception {
    OutputEvents events = new OutputEvents(model());
    List<OutputEvents.Produced> tokens = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      FinishReason finish = i == 9 ? FinishReason.LENGTH : null;
      tokens.add(
          new OutputEvents.Produced(
              new TokenEmission("r1", i, 100 + i, "é" + i, -0.25f * i, i % 3 == 0, finish),
              AT.plusMillis(i)));
    }
    List<TokenChunk> whole = events.chunks("r1", "s1", 42, tokens, 1_000_000);
    assertEquals(1, whole.size());
    TokenChunk all = whole.get(0);
    assertEquals("r1", all.getRequestId());
    assertEquals("s1", all.getSessionId());
    assertEquals(0, all.getFirstIndex());
    assertEquals(List.of(100, 101, 102, 103, 104, 105, 106, 107, 108, 109), all.getTokenIds());
    assertEquals(-0.5f, all.getLogprobs().get(2));
    assertEquals(
        List.of(true, false, false, true, false, false, true, false, false, true),
        all.getFromMtpDraft());
    assertEquals("é0é1é2é3é4é5é6é7é8é9", all.getTextDelta());
    assertEquals(io.latentstream.schemas.FinishReason.LENGTH, all.getFinishReason());
    assertEquals("brown", all.getModelId());
    assertEquals("sha256:abc", all.getWeightsDigest());
    assertEquals("cpu", all.getBackend());
    assertEquals(42, all.getSeed());
    assertEquals(AT, all.getFirstProducedAt());
    assertEquals(AT.plusMillis(9), all.getProducedAt());

    int tokenBytes = OutputEvents.CHUNK_TOKEN_BYTES + "é0".getBytes(UTF_8).length;
    int fourTokens = OutputEvents.EVENT_OVERHEAD_BYTES + 4 * tokenBytes;
    List<TokenChunk> cut = events.chunks("r1", null, 42, tokens, fourTokens);
    assertEquals(List.of(0, 4, 8), cut.stream().map(TokenChunk::getFirstIndex).toList());
    assertEquals(List.of(4, 4, 2), cut.stream().map(c -> c.getTokenIds().size()).toList());
    assertEquals(all.getTokenIds(), cut.stream().flatMap(c -> c.getTokenIds().stream()).toList());
    assertEquals(
        all.getTextDelta(), String.join("", cut.stream().map(TokenChunk::getTextDelta).toList()));
    assertEquals(
        List.of(false, false, true), cut.stream().map(c -> c.getFinishReason() != null).toList());
    assertEquals(AT.plusMillis(4), cut.get(1).getFirstProducedAt());
    assertEquals(AT.plusMillis(7), cut.get(1).getProducedAt());
    for (TokenChunk chunk : cut) {
      TokenChunk empty =
          TokenChunk.newBuilder(chunk)
              .setTokenIds(List.of())
              .setLogprobs(List.of())
              .setFromMtpDraft(List.of())
              .setTextDelta("")
              .build();
      // Beyond the per-token estimate, only the three arrays' counts (framing, in the overhead).
      long written = TokenChunk.getEncoder().encode(chunk).remaining();
      long fixed = TokenChunk.getEncoder().encode(empty).remaining();
      assertTrue(
          written - fixed <= (long) chunk.getTokenIds().size() * tokenBytes + 3,
          written - fixed + " bytes for " + chunk.getTokenIds().size() + " tokens");
    }
    assertEquals(
        10,
        events.chunks("r1", null, 42, tokens, OutputEvents.EVENT_OVERHEAD_BYTES).size(),
        "a token that fits no chunk with others goes alone");
  }

  @Test
  void aCompletionCountsTokensAndTimes() throws Exception {
    GenerationOutcome outcome =
        new GenerationOutcome(
            "r1",
            FinishReason.LENGTH,
            new int[] {5, 6},
            "xy",
            9,
            4,
            3,
            2,
            1_000_000,
            7_000_000,
            9_000_000,
            null,
            null);
    Completion c = new OutputEvents(model()).completion("r1", null, 42, outcome, 11, 20);
    assertEquals(List.of(5, 6), c.getTokenIds());
    assertEquals("xy", c.getText());
    assertEquals(io.latentstream.schemas.FinishReason.LENGTH, c.getFinishReason());
    assertEquals(11, c.getUsage().getPromptTokens());
    assertEquals(2, c.getUsage().getCompletionTokens());
    assertEquals(4, c.getUsage().getCachedPromptTokens());
    assertEquals(1, c.getTimings().getQueueMs());
    assertEquals(7, c.getTimings().getTimeToFirstTokenMs());
    assertEquals(20, c.getTimings().getTotalMs());
    assertEquals(3, c.getMtpDraftedTokens());
    assertEquals(2, c.getMtpAcceptedTokens());
    assertEquals("cpu", c.getBackend());
  }

  @Test
  void everyEngineFinishReasonHasItsEventName() {
    for (FinishReason reason : FinishReason.values()) {
      assertEquals(reason.name(), OutputEvents.finishReason(reason).name());
    }
  }

  @Test
  void errorMessagesAreCapped() {
    String huge = "e".repeat(OutputEvents.MAX_MESSAGE_CHARS + 10);
    GenerationError.Builder error = OutputEvents.error("r1", ErrorCode.INTERNAL_ERROR, huge, AT);
    assertEquals(OutputEvents.MAX_MESSAGE_CHARS + 3, error.getMessage().length());
    assertEquals(
        "INTERNAL_ERROR",
        OutputEvents.error(null, ErrorCode.INTERNAL_ERROR, null, AT).getMessage());
  }
}
