package io.latentstream.scheduler;

import io.latentstream.sampling.SamplingParams;

/**
 * One request for the generation loop.
 *
 * <p>To resume a request interrupted after k tokens (a failover), pass the prompt followed by those
 * k tokens as {@code context} and k as {@code firstIndex}: random draws are addressed by token
 * index, so the continuation equals an undisturbed run.
 *
 * @param requestId identifies the request in emitted tokens
 * @param context the tokens to continue: the prompt, then any tokens generated before a resume
 * @param firstIndex index in the generation of the next token (0 unless resuming)
 * @param params sampling settings with the seed already fixed
 * @param mtpDrafting whether Multi-Token Prediction may draft tokens for this request
 * @param cachedPrefix the latents of a prefix of {@code context} (a session's earlier turns) as
 *     {@link io.latentstream.engine.Sequence#exportRange} gave them, or null to compute everything;
 *     the loop imports them into the request's sequence on its own thread
 */
public record GenerationRequest(
    String requestId,
    int[] context,
    int firstIndex,
    SamplingParams params,
    boolean mtpDrafting,
    byte[] cachedPrefix) {

  public GenerationRequest {
    if (context.length == 0) {
      throw new IllegalArgumentException("request " + requestId + " has an empty prompt");
    }
    if (firstIndex < 0 || firstIndex > context.length - 1 || firstIndex >= params.maxNewTokens()) {
      throw new IllegalArgumentException(
          "request " + requestId + " cannot resume at token " + firstIndex);
    }
  }

  /** A fresh request without a cached prefix. */
  public static GenerationRequest of(String requestId, int[] prompt, SamplingParams params) {
    return new GenerationRequest(requestId, prompt, 0, params, true, null);
  }

  public int promptLength() {
    return context.length - firstIndex;
  }
}
