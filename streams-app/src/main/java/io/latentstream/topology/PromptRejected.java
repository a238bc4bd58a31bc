package io.latentstream.topology;

import io.latentstream.schemas.ErrorCode;

/** A prompt the service refuses, with the code and message its publisher receives. */
public final class PromptRejected extends Exception {
  private final ErrorCode code;

  PromptRejected(ErrorCode code, String message) {
    super(message, null, false, false);
    this.code = code;
  }

  ErrorCode code() {
    return code;
  }
}
