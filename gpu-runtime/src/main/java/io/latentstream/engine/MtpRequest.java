package io.latentstream.engine;

/**
 * One sequence's part of a batched MTP step: row j pairs the main model's final hidden state at
 * position p+j with token p+j+1 (p = the MTP cache length), predicting token p+j+2.
 */
public record MtpRequest(Sequence sequence, HiddenStates hidden, int[] nextTokens) {
  public MtpRequest {
    if (hidden.rows() != nextTokens.length || nextTokens.length == 0) {
      throw new IllegalArgumentException(
          hidden.rows() + " hidden states for " + nextTokens.length + " next tokens");
    }
  }

  /** Hidden states given as host arrays. */
  public MtpRequest(Sequence sequence, float[][] hidden, int[] nextTokens) {
    this(sequence, HiddenStates.of(hidden), nextTokens);
  }
}
