package io.latentstream.events;

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
import io.latentstream.schemas.TokenEvent;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.SharedModels;
import java.time.Instant;
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
