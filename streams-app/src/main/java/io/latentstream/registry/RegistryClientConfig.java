package io.latentstream.registry;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;

/**
 * How to reach a Confluent-compatible Schema Registry.
 *
 * @param urls base URLs, tried in turn when one is unreachable (like Confluent's comma-separated
 *     {@code schema.registry.url})
 * @param basicAuthUserInfo {@code user:password} for HTTP basic auth, as Confluent's {@code
 *     basic.auth.user.info}; never logged
 * @param sslContext TLS settings for https URLs (trust store, client certificate); empty uses the
 *     JVM's defaults
 * @param requestTimeout the most one HTTP request may take
 * @param retryBackoffInitial the first wait after an unreachable registry or a 5xx answer
 * @param retryBackoffMax the longest single wait (the wait doubles up to it)
 * @param retryTimeout the total time one call keeps retrying before it gives up with {@link
 *     RegistryUnavailableException}; keep it below the consumer's {@code max.poll.interval.ms}
 */
public record RegistryClientConfig(
    List<URI> urls,
    Optional<String> basicAuthUserInfo,
    Optional<SSLContext> sslContext,
    Duration requestTimeout,
    Duration retryBackoffInitial,
    Duration retryBackoffMax,
    Duration retryTimeout) {

  public RegistryClientConfig {
    urls = List.copyOf(urls);
    if (urls.isEmpty()) {
      throw new IllegalArgumentException("at least one registry URL is needed");
    }
    if (retryBackoffInitial.isNegative()
        || retryBackoffInitial.isZero()
        || retryBackoffMax.compareTo(retryBackoffInitial) < 0) {
      throw new IllegalArgumentException("need 0 < retryBackoffInitial <= retryBackoffMax");
    }
  }

  /**
   * Defaults for one URL or a comma-separated list: 10 s per request, backoff 100 ms doubling to 5
   * s, and 2 minutes of retrying in all.
   */
  public static RegistryClientConfig of(String commaSeparatedUrls) {
    List<URI> urls =
        java.util.Arrays.stream(commaSeparatedUrls.split(","))
            .map(String::trim)
            .filter(s -> !s.isEmpty())
            .map(s -> URI.create(s.endsWith("/") ? s.substring(0, s.length() - 1) : s))
            .toList();
    return new RegistryClientConfig(
        urls,
        Optional.empty(),
        Optional.empty(),
        Duration.ofSeconds(10),
        Duration.ofMillis(100),
        Duration.ofSeconds(5),
        Duration.ofMinutes(2));
  }

  public RegistryClientConfig withBasicAuth(String userInfo) {
    return new RegistryClientConfig(
        urls,
        Optional.of(userInfo),
        sslContext,
        requestTimeout,
        retryBackoffInitial,
        retryBackoffMax,
        retryTimeout);
  }

  public RegistryClientConfig withSslContext(SSLContext context) {
    return new RegistryClientConfig(
        urls,
        basicAuthUserInfo,
        Optional.of(context),
        requestTimeout,
        retryBackoffInitial,
        retryBackoffMax,
        retryTimeout);
  }

  public RegistryClientConfig withRetries(Duration initial, Duration max, Duration total) {
    return new RegistryClientConfig(
        urls, basicAuthUserInfo, sslContext, requestTimeout, initial, max, total);
  }

  /** The {@code Authorization} header value, when basic auth is configured. */
  Optional<String> authorizationHeader() {
    return basicAuthUserInfo.map(
        info ->
            "Basic " + Base64.getEncoder().encodeToString(info.getBytes(StandardCharsets.UTF_8)));
  }

  /** Never prints the credentials. */
  @Override
  public String toString() {
    return "RegistryClientConfig[urls="
        + urls
        + ", basicAuth="
        + basicAuthUserInfo.isPresent()
        + ", tls="
        + sslContext.isPresent()
        + ", retryTimeout="
        + retryTimeout
        + "]";
  }
}
