package io.latentstream.service;

import io.latentstream.topology.SessionCacheStore;
import io.latentstream.topology.SessionKey;
import io.latentstream.topology.StoreNames;
import io.micronaut.configuration.kafka.streams.InteractiveQueryService;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.serde.annotation.Serdeable;
import java.time.Instant;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * Interactive queries of the session store: what this instance holds for a tenant's session. The
 * tenant is part of the path and of the store key, so one tenant cannot read another's session.
 * Sessions live on the instance that owns their partition; other instances answer 404.
 */
@Controller("/sessions")
public class SessionsController {
  private final InteractiveQueryService queries;

  SessionsController(InteractiveQueryService queries) {
    this.queries = queries;
  }

  /** A session's cache, as the interactive query reports it. */
  @Serdeable
  public record SessionInfo(
      String tenant,
      String session,
      int historyTokens,
      int cachedTokens,
      long cacheBytes,
      String cacheBackend,
      Instant lastUsed) {}

  @Get("/{tenant}/{session}")
  HttpResponse<SessionInfo> session(String tenant, String session) {
    SessionKey key = new SessionKey(tenant, session);
    return queries
        .<ReadOnlyKeyValueStore<String, byte[]>>getQueryableStore(
            StoreNames.SESSION_CACHE, QueryableStoreTypes.keyValueStore())
        .flatMap(store -> SessionCacheStore.entry(store, key))
        .map(
            entry ->
                HttpResponse.ok(
                    new SessionInfo(
                        tenant,
                        session,
                        entry.history().length,
                        entry.cachedTokens(),
                        entry.cacheBytes(),
                        entry.backend(),
                        Instant.ofEpochMilli(entry.lastUsedMs()))))
        .orElse(HttpResponse.notFound());
  }
}
