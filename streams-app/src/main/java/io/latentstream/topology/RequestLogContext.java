package io.latentstream.topology;

import org.slf4j.MDC;

/**
 * Puts a request's id and session id into the logging context (MDC keys {@code requestId} and
 * {@code sessionId}, printed by logback.xml) until closed, so every line about the request names
 * it.
 */
final class RequestLogContext implements AutoCloseable {
  static final String REQUEST_ID = "requestId";
  static final String SESSION_ID = "sessionId";

  private RequestLogContext(String requestId, String sessionId) {
    put(REQUEST_ID, requestId);
    put(SESSION_ID, sessionId);
  }

  static RequestLogContext of(String requestId, String sessionId) {
    return new RequestLogContext(requestId, sessionId);
  }

  static RequestLogContext of(InFlightRequest request) {
    return of(request.requestId(), request.session() == null ? null : request.session().session());
  }

  /** Ids longer than this (refused, but logged) are cut, so a hostile id cannot flood the logs. */
  static final int MAX_LOGGED_CHARS = 160;

  private static void put(String key, String value) {
    if (value == null) {
      MDC.remove(key);
    } else {
      MDC.put(
          key,
          value.length() <= MAX_LOGGED_CHARS
              ? value
              : value.substring(0, MAX_LOGGED_CHARS) + "...(" + value.length() + " chars)");
    }
  }

  @Override
  public void close() {
    MDC.remove(REQUEST_ID);
    MDC.remove(SESSION_ID);
  }
}
