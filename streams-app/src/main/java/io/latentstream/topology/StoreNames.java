package io.latentstream.topology;

/** The state stores of the topology; their changelog topics are named after them by Streams. */
public final class StoreNames {
  /** Accepted requests not yet completed, with their forwarded tokens: {@link InFlightRequest}. */
  public static final String IN_FLIGHT = "in-flight";

  /** Sessions' histories and latent caches: {@link SessionCacheStore}. */
  public static final String SESSION_CACHE = "session-cache";

  /** Ids of completed requests and when they completed, to refuse duplicates. */
  public static final String COMPLETED_REQUESTS = "completed-requests";

  private StoreNames() {}
}
