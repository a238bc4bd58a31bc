package io.latentstream.scheduler;

/** Why a generation ended. */
public enum FinishReason {
  /** The model produced EOS, or a stop string appeared. */
  STOP,
  /** max_new_tokens, or the model's context, was reached. */
  LENGTH,
  /** The engine failed on this request; the outcome's message says why. */
  ERROR
}
