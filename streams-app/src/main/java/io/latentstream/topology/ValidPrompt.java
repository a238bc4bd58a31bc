package io.latentstream.topology;

import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenEventForm;

/**
 * A prompt that passed every check that needs no state, with its input's tokens both ways: as the
 * first turn of a context ({@code first}: the tokenizer's or chat template's BOS opens it) and as a
 * later turn of a session, continuing its history ({@code later}). Token ids are the same both
 * ways.
 *
 * @param tokenEvents the form of the request's token events, decided once here: its own {@code
 *     token_events}, else the deployment's
 */
public record ValidPrompt(
    PromptRequest request, Turn first, Turn later, TokenEventForm tokenEvents) {
  /** The turn as it enters its context: {@code later} where it continues a session's history. */
  public Turn turn(boolean continuesContext) {
    return continuesContext ? later : first;
  }
}
