package io.latentstream.scheduler;

/**
 * Receives a request's tokens and outcome. Called on the loop's thread: implementations hand the
 * data over (e.g. to a queue) and return quickly.
 */
public interface GenerationListener {
  void onToken(TokenEmission token);

  void onFinished(GenerationOutcome outcome);
}
