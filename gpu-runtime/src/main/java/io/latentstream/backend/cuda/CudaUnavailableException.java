package io.latentstream.backend.cuda;

/** The CUDA backend cannot start here; the message says why (no driver, no device, no PTX). */
public final class CudaUnavailableException extends Exception {
  private static final long serialVersionUID = 1L;

  public CudaUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
