package io.latentstream.events;

import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.Timings;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.Usage;
import io.latentstream.serving.ServedModel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The output events of a served model, built in one place: the service's topology forwards them and
 * replay regenerates token events and chunks to compare and write, so the events an auditor checks
 * and the events the service produced cannot drift apart. Every token event, chunk and completion
 * names what generated it (model id, weights digest, engine version, backend, seed).
 */
public final class OutputEvents {
  /** Longest error message an event carries (exception texts can hold anything). */
  public static final int MAX_MESSAGE_CHARS = 4096;

  /**
   * What an output event may take besides its tokens' ids, numbers and text: the request and
   * session ids (held to the prompt limits), model id, weights digest, engine version, backend,
   * seed, times, counts and Avro's framing.
   */
  public static final int EVENT_OVERHEAD_BYTES = 64 * 1024;

  /**
   * The most one token adds to a chunk besides its text: its id (a varint, at most 5 bytes), its
   * logprob (union branch and float, 5) and its draft flag (1).
   */
  public static final int CHUNK_TOKEN_BYTES = 11;

  /** A generated token and when the engine emitted it (its event's produced_at). */
  public record Produced(TokenEmission token, Instant at) {}

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
   * The chunks of consecutive generated tokens of a request (sessionId null outside sessions), in
   * order: one, unless the tokens' text and numbers would take an event over {@code maxBytes}; then
   * as many as needed, each filled up to it (a single token always fits: see
   * LatentstreamTopology.checkOutputBound). Only a chunk ending with the request's last token
   * carries a finish reason.
   */
  public List<TokenChunk> chunks(
      String requestId, String sessionId, long seed, List<Produced> tokens, int maxBytes) {
    long budget = maxBytes - EVENT_OVERHEAD_BYTES;
    List<TokenChunk> chunks = new ArrayList<>();
    int from = 0;
    long bytes = 0;
    for (int i = 0; i < tokens.size(); i++) {
      long tokenBytes =
          CHUNK_TOKEN_BYTES
              + tokens.get(i).token().textDelta().getBytes(StandardCharsets.UTF_8).length;
      if (i > from && bytes + tokenBytes > budget) {
        chunks.add(chunk(requestId, sessionId, seed, tokens.subList(from, i)));
        from = i;
        bytes = 0;
      }
      bytes += tokenBytes;
    }
    if (from < tokens.size()) {
      chunks.add(chunk(requestId, sessionId, seed, tokens.subList(from, tokens.size())));
    }
    return chunks;
  }

  private TokenChunk chunk(String requestId, String sessionId, long seed, List<Produced> tokens) {
    List<Integer> ids = new ArrayList<>(tokens.size());
    List<Float> logprobs = new ArrayList<>(tokens.size());
    List<Boolean> drafts = new ArrayList<>(tokens.size());
    StringBuilder text = new StringBuilder();
    for (Produced produced : tokens) {
      TokenEmission token = produced.token();
      ids.add(token.tokenId());
      logprobs.add(token.logprob());
      drafts.add(token.fromDraft());
      text.append(token.textDelta());
    }
    Produced first = tokens.get(0);
    Produced last = tokens.get(tokens.size() - 1);
    io.latentstream.scheduler.FinishReason finish = last.token().finishReason();
    return TokenChunk.newBuilder()
        .setRequestId(requestId)
        .setSessionId(sessionId)
        .setFirstIndex(first.token().index())
        .setTokenIds(ids)
        .setLogprobs(logprobs)
        .setFromMtpDraft(drafts)
        .setTextDelta(text.toString())
        .setFinishReason(finish == null ? null : finishReason(finish))
        .setModelId(model.modelId())
        .setWeightsDigest(model.weightsDigest())
        .setEngineVersion(model.engineVersion())
        .setBackend(model.engine().backend())
        .setSeed(seed)
        .setFirstProducedAt(first.at())
        .setProducedAt(last.at())
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
