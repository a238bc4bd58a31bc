package io.latentstream.topology;

import io.latentstream.sampling.SamplingParams;

/**
 * A validated prompt: the tokens it adds to its context and how to sample.
 *
 * @param tokens the turn's own tokens (for a session, appended to its history)
 * @param chat whether the turn was chat input, whose assistant replies end with EOS in the history
 */
public record Turn(int[] tokens, SamplingParams params, boolean mtpDrafting, boolean chat) {}
