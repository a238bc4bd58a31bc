package io.latentstream.events;

import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.Timings;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.Usage;
import io.latentstream.serving.ServedModel;
import java.time.Instant;
import java.util.Arrays;

/**
 * The output events of a served model, built in one place: the service's topology forwards them and
 * replay regenerates token events to compare and write, so the events an auditor checks and the
 * events the service produced cannot drift apart. Every token event and completion names what
 * generated it (model id, weights digest, engine version, backend, seed).
 */
public final class OutputEvents {
  /** Longest error message an event carries (exception texts can hold anything). */
  public static final int MAX_MESSAGE_CHARS = 4096;

  private final ServedModel model;

  public OutputEvents(ServedModel model) {
    this.model = model;
  }

  /** The event of one generated token of a request (sessionId null outside sessions). */
  public TokenEvent token(
      String requestId, String sessionId, long seed, TokenEmission token, Instant producedAt) {
    return TokenEvent.newBuilder()
        .setRequestId(requestId)
        .setSessionId(sessionId)
        .setIndex(token.index())
        .setTokenId(token.tokenId())
        .setTextDelta(token.textDelta())
        .setLogprob(token.logprob())
        .setFromMtpDraft(token.fromDraft())
        .setFinishReason(token.finishReason() == null ? null : finishReason(token.finishReason()))
        .setModelId(model.modelId())
        .setWeightsDigest(model.weightsDigest())
        .setEngineVersion(model.engineVersion())
        .setBackend(model.engine().backend())
        .setSeed(seed)
        .setProducedAt(producedAt)
        .build();
  }

  /**
   * The completion of a finished request: promptTokens counts its whole context (a session's
   * history included), totalMs the time since it was accepted.
   */
  public Completion completion(
      String requestId,
      String sessionId,
      long seed,
      GenerationOutcome outcome,
      int promptTokens,
      long totalMs) {
    return Completion.newBuilder()
        .setRequestId(requestId)
        .setSessionId(sessionId)
        .setText(outcome.text())
        .setTokenIds(Arrays.stream(outcome.tokens()).boxed().toList())
        .setFinishReason(finishReason(outcome.finishReason()))
        .setUsage(
            Usage.newBuilder()
                .setPromptTokens(promptTokens)
                .setCompletionTokens(outcome.tokens().length)
                .setCachedPromptTokens(outcome.cachedPromptTokens())
                .build())
        .setTimings(
            Timings.newBuilder()
                .setQueueMs(outcome.queueNanos() / 1_000_000)
                .setTimeToFirstTokenMs(outcome.firstTokenNanos() / 1_000_000)
                .setTotalMs(totalMs)
                .build())
        .setMtpDraftedTokens(outcome.drafted())
        .setMtpAcceptedTokens(outcome.accepted())
        .setModelId(model.modelId())
        .setWeightsDigest(model.weightsDigest())
        .setEngineVersion(model.engineVersion())
        .setBackend(model.engine().backend())
        .setSeed(seed)
        .build();
  }

  /**
   * An error event's common part, the message capped at {@link #MAX_MESSAGE_CHARS}; the caller
   * names the record it is about (source topic, partition, offset, echoed bytes).
   */
  public static GenerationError.Builder error(
      String requestId, ErrorCode code, String message, Instant occurredAt) {
    return GenerationError.newBuilder()
        .setRequestId(requestId)
        .setCode(code)
        .setMessage(
            message == null
                ? code.name()
                : message.length() <= MAX_MESSAGE_CHARS
                    ? message
                    : message.substring(0, MAX_MESSAGE_CHARS) + "...")
        .setOccurredAt(occurredAt);
  }

  /**
   * The events' finish reason for the engine's: the same names, the Avro enum for the wire and the
   * scheduler's for the engine (gpu-runtime knows nothing of Avro).
   */
  public static FinishReason finishReason(io.latentstream.scheduler.FinishReason reason) {
    return FinishReason.valueOf(reason.name());
  }
}
