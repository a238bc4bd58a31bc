package io.latentstream.engine;

/**
 * The outcome of a {@link StepRequest}.
 *
 * @param logits [rows, vocab]: one row per new token (ALL), only the last (LAST), or none
 * @param hidden [tokens, hidden_size]: final-norm hidden states of every new token (MTP input)
 */
public record StepResult(float[][] logits, float[][] hidden) {}
