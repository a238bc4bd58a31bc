package io.latentstream.registry.client;

/**
 * The registry could not be reached (or kept failing) for the whole configured retry time, or at
 * once when its TLS certificate is not trusted (a configuration error that no retry cures). Callers
 * must treat this as transient: a record that meets it is retried or the task fails, never dropped.
 */
public final class RegistryUnavailableException extends RuntimeException {
  public RegistryUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
