package io.latentstream.registry.client;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

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
   * s, and 2 minutes of retrying in all. Credentials in a URL ({@code https://user:password@host},
   * Confluent's {@code basic.auth.credentials.source=URL}) become the basic auth and leave the URL,
   * which is logged and put in error messages.
   */
  public static RegistryClientConfig of(String commaSeparatedUrls) {
    List<URI> urls = new ArrayList<>();
    Optional<String> userInfo = Optional.empty();
    for (String text : commaSeparatedUrls.split(",")) {
      String trimmed = text.trim();
      if (trimmed.isEmpty()) {
        continue;
      }
      URI url;
      try {
        url =
            URI.create(
                trimmed.endsWith("/") ? trimmed.substring(0, trimmed.length() - 1) : trimmed);
      } catch (IllegalArgumentException e) {
        // URI's message quotes the whole text, credentials included: say where, not what.
        throw new IllegalArgumentException(
            "schema registry URL " + (urls.size() + 1) + " of " + URL + " is not a valid URI");
      }
      if (url.getRawUserInfo() != null) {
        userInfo = Optional.of(url.getUserInfo());
        url =
            URI.create(url.toString().replaceFirst(Pattern.quote(url.getRawUserInfo() + "@"), ""));
      }
      urls.add(url);
    }
    return new RegistryClientConfig(
        urls,
        userInfo,
        Optional.empty(),
        Duration.ofSeconds(10),
        Duration.ofMillis(100),
        Duration.ofSeconds(5),
        Duration.ofMinutes(2));
  }

  /** Confluent's key for the registry URLs (comma-separated). */
  public static final String URL = "schema.registry.url";

  /** Confluent's key for {@code user:password}. */
  public static final String BASIC_AUTH_USER_INFO = "basic.auth.user.info";

  /** Confluent's keys for the registry's TLS trust and client certificate (JKS or PKCS12). */
  public static final String SSL_TRUSTSTORE_LOCATION = "schema.registry.ssl.truststore.location";

  public static final String SSL_TRUSTSTORE_PASSWORD = "schema.registry.ssl.truststore.password";
  public static final String SSL_TRUSTSTORE_TYPE = "schema.registry.ssl.truststore.type";
  public static final String SSL_KEYSTORE_LOCATION = "schema.registry.ssl.keystore.location";
  public static final String SSL_KEYSTORE_PASSWORD = "schema.registry.ssl.keystore.password";
  public static final String SSL_KEYSTORE_TYPE = "schema.registry.ssl.keystore.type";
  public static final String SSL_KEY_PASSWORD = "schema.registry.ssl.key.password";

  /** Our keys for the retry policy and request timeout, in milliseconds. */
  public static final String REQUEST_TIMEOUT_MS = "schema.registry.request.timeout.ms";

  public static final String RETRY_BACKOFF_MS = "schema.registry.retry.backoff.ms";
  public static final String RETRY_BACKOFF_MAX_MS = "schema.registry.retry.backoff.max.ms";
  public static final String RETRY_TIMEOUT_MS = "schema.registry.retry.timeout.ms";

  /**
   * Reads the Confluent serializer's configuration keys (so existing client property files work
   * unchanged), plus ours for retries; unknown keys are ignored, as the map is usually the whole
   * client configuration.
   */
  public static RegistryClientConfig fromProperties(Map<String, ?> properties) {
    Object urls = properties.get(URL);
    if (urls == null) {
      throw new IllegalArgumentException(URL + " is required");
    }
    RegistryClientConfig config = of(urls.toString());
    Object userInfo = properties.get(BASIC_AUTH_USER_INFO);
    if (userInfo == null) {
      userInfo = properties.get("schema.registry." + BASIC_AUTH_USER_INFO);
    }
    if (userInfo != null && !userInfo.toString().isEmpty()) {
      config = config.withBasicAuth(userInfo.toString());
    }
    if (properties.get(SSL_TRUSTSTORE_LOCATION) != null
        || properties.get(SSL_KEYSTORE_LOCATION) != null) {
      config = config.withSslContext(sslContext(properties));
    }
    Duration request = millis(properties, REQUEST_TIMEOUT_MS, config.requestTimeout());
    return new RegistryClientConfig(
        config.urls(),
        config.basicAuthUserInfo(),
        config.sslContext(),
        request,
        millis(properties, RETRY_BACKOFF_MS, config.retryBackoffInitial()),
        millis(properties, RETRY_BACKOFF_MAX_MS, config.retryBackoffMax()),
        millis(properties, RETRY_TIMEOUT_MS, config.retryTimeout()));
  }

  private static Duration millis(Map<String, ?> properties, String key, Duration dflt) {
    Object value = properties.get(key);
    return value == null ? dflt : Duration.ofMillis(Long.parseLong(value.toString().trim()));
  }

  /** A TLS context from the trust store and key store files named in {@code properties}. */
  private static SSLContext sslContext(Map<String, ?> properties) {
    try {
      TrustManager[] trust = null;
      if (properties.get(SSL_TRUSTSTORE_LOCATION) != null) {
        KeyStore store =
            load(properties, SSL_TRUSTSTORE_LOCATION, SSL_TRUSTSTORE_PASSWORD, SSL_TRUSTSTORE_TYPE);
        TrustManagerFactory factory =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        trust = factory.getTrustManagers();
      }
      KeyManager[] keys = null;
      if (properties.get(SSL_KEYSTORE_LOCATION) != null) {
        KeyStore store =
            load(properties, SSL_KEYSTORE_LOCATION, SSL_KEYSTORE_PASSWORD, SSL_KEYSTORE_TYPE);
        KeyManagerFactory factory =
            KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        Object keyPassword = properties.get(SSL_KEY_PASSWORD);
        if (keyPassword == null) {
          keyPassword = properties.get(SSL_KEYSTORE_PASSWORD);
        }
        factory.init(store, keyPassword == null ? null : keyPassword.toString().toCharArray());
        keys = factory.getKeyManagers();
      }
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(keys, trust, null);
      return context;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot set up TLS for the schema registry: " + e, e);
    }
  }

  private static KeyStore load(
      Map<String, ?> properties, String locationKey, String passwordKey, String typeKey)
      throws IOException, GeneralSecurityException {
    Object type = properties.get(typeKey);
    Object password = properties.get(passwordKey);
    KeyStore store = KeyStore.getInstance(type == null ? "PKCS12" : type.toString());
    try (InputStream in = Files.newInputStream(Path.of(properties.get(locationKey).toString()))) {
      store.load(in, password == null ? null : password.toString().toCharArray());
    }
    return store;
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
