package io.latentstream.scheduler;

/**
 * One generated token, as the loop hands it out.
 *
 * @param index position in the generation, from 0, without gaps
 * @param textDelta text this token completes (complete UTF-8 characters only; held back while it
 *     may be the start of a stop string)
 * @param logprob the model's log-probability of the token (log softmax of its logits)
 * @param fromDraft whether the token was an accepted MTP draft
 * @param finishReason non-null on the last token of a generation
 */
public record TokenEmission(
    String requestId,
    int index,
    int tokenId,
    String textDelta,
    float logprob,
    boolean fromDraft,
    FinishReason finishReason) {}
