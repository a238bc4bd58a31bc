package io.latentstream.service;

import io.micronaut.http.HttpHeaders;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.ResponseFilter;
import io.micronaut.http.annotation.ServerFilter;

/**
 * Adds the HTTP basic challenge to every 401, so that a browser asks for (or sends) the credentials
 * and the console opens with them.
 */
@ServerFilter(ServerFilter.MATCH_ALL_PATTERN)
public class BasicChallenge {
  @ResponseFilter
  void challenge(MutableHttpResponse<?> response) {
    if (response.status() == HttpStatus.UNAUTHORIZED
        && !response.getHeaders().contains(HttpHeaders.WWW_AUTHENTICATE)) {
      response.header(
          HttpHeaders.WWW_AUTHENTICATE, "Basic realm=\"latentstream\", charset=\"UTF-8\"");
    }
  }
}
