package io.latentstream.weights;

import java.io.IOException;

/**
 * A checkpoint that cannot be read as the config describes it; the message names file and tensor.
 */
public final class WeightsException extends IOException {
  private static final long serialVersionUID = 1L;

  public WeightsException(String message) {
    super(message);
  }
}
