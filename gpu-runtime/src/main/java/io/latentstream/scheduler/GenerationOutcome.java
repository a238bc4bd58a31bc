package io.latentstream.scheduler;

import io.latentstream.engine.Sequence;

/**
 * How a generation ended, with what a completion record reports.
 *
 * @param tokens every generated token, from index 0 (including those before a resume)
 * @param text the generated text: the concatenation of every token's text delta
 * @param cachedPromptTokens prompt tokens whose cache came with the request instead of computed
 * @param sequence the finished sequence; its cache covers the prompt and the generated tokens but
 *     the last, so a session can keep it (during {@link GenerationListener#onFinished}: the loop
 *     then releases it)
 * @param message what went wrong, for {@link FinishReason#ERROR}; else null
 */
public record GenerationOutcome(
    String requestId,
    FinishReason finishReason,
    int[] tokens,
    String text,
    int promptTokens,
    int cachedPromptTokens,
    int drafted,
    int accepted,
    long queueNanos,
    long firstTokenNanos,
    long totalNanos,
    Sequence sequence,
    String message) {
  /** Whether the generation failed (the engine's step threw): {@link FinishReason#ERROR}. */
  public boolean failed() {
    return finishReason == FinishReason.ERROR;
  }
}
