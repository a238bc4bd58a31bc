package io.latentstream.service;

import io.micronaut.http.HttpRequest;
import io.micronaut.security.authentication.AuthenticationFailureReason;
import io.micronaut.security.authentication.AuthenticationRequest;
import io.micronaut.security.authentication.AuthenticationResponse;
import io.micronaut.security.authentication.provider.HttpRequestAuthenticationProvider;
import jakarta.inject.Singleton;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The credentials the service's HTTP endpoints accept, HTTP basic against {@code
 * latentstream.http-credentials} ({@code user:password}, e.g. from {@code
 * LATENTSTREAM_HTTP_CREDENTIALS}): the console and its event stream (every tenant's text), {@code
 * /sessions}, {@code /prometheus} and health details need them; the liveness and readiness probes
 * and the bare health status do not (application.yml, {@code micronaut.security}). There is no
 * default: a service started without credentials refuses to start, so none runs open by mistake;
 * {@code latentstream up}, {@code demo} and {@code serve} generate them when not given.
 */
@Singleton
public class HttpCredentials<B> implements HttpRequestAuthenticationProvider<B> {
  private final byte[] user;
  private final byte[] password;

  HttpCredentials(ServiceConfig config) {
    String credentials = config.httpCredentials();
    int colon = credentials == null ? -1 : credentials.indexOf(':');
    if (colon <= 0 || colon == credentials.length() - 1) {
      throw new IllegalStateException(
          "set latentstream.http-credentials (LATENTSTREAM_HTTP_CREDENTIALS) to user:password:"
              + " the console, /sessions, /prometheus and health details require them");
    }
    this.user = credentials.substring(0, colon).getBytes(StandardCharsets.UTF_8);
    this.password = credentials.substring(colon + 1).getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public AuthenticationResponse authenticate(
      HttpRequest<B> request, AuthenticationRequest<String, String> authentication) {
    // Both compared in constant time, whatever matches, so timing tells nothing.
    boolean userMatches = equal(user, authentication.getIdentity());
    boolean passwordMatches = equal(password, authentication.getSecret());
    return userMatches && passwordMatches
        ? AuthenticationResponse.success(authentication.getIdentity())
        : AuthenticationResponse.failure(AuthenticationFailureReason.CREDENTIALS_DO_NOT_MATCH);
  }

  private static boolean equal(byte[] expected, String given) {
    return given != null && MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8));
  }
}
