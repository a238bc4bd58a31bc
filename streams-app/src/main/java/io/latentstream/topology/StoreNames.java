package io.latentstream.topology;

/** The state stores of the topology; their changelog topics are named after them by Streams. */
public final class StoreNames {
  /** Accepted requests not yet completed, with their forwarded tokens: {@link InFlightRequest}. */
  public static final String IN_FLIGHT = "in-flight";

  /** Sessions' histories and latent caches: {@link SessionCacheStore}. */
  public static final String SESSION_CACHE = "session-cache";

  /**
   * Request ids granted to a prompt and when, so that an id is generated at most once: {@link
   * DeduplicationProcessor}.
   */
  public static final String REQUEST_IDS = "request-ids";

  private StoreNames() {}
}
