package io.latentstream.topology;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * Names one conversation of one tenant. Caches are keyed by both, so two tenants using the same
 * session id never see each other's history or latent cache.
 */
public record SessionKey(String tenant, String session) {
  public SessionKey {
    if (tenant == null || tenant.isEmpty()) {
      throw new IllegalArgumentException("a session needs a tenant");
    }
    if (session == null || session.isEmpty()) {
      throw new IllegalArgumentException("a session needs an id");
    }
  }

  /** The store key of the session's entry; encoding keeps '/' and '#' free as separators. */
  String storeKey() {
    return encode(tenant) + "/" + encode(session);
  }

  /** The store key of chunk {@code index}; zero padding keeps chunks in order in a range scan. */
  String chunkKey(int index) {
    return chunkKey(storeKey(), index);
  }

  static String chunkKey(String storeKey, int index) {
    return String.format("%s#%08d", storeKey, index);
  }

  static boolean isChunkKey(String storeKey) {
    return storeKey.indexOf('#') >= 0;
  }

  private static String encode(String part) {
    return URLEncoder.encode(part, StandardCharsets.UTF_8);
  }
}
