package io.latentstream.registry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.testing.TestCertificates;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client configured from Confluent's property keys, over HTTPS with a trust store and basic
 * auth, against the embedded registry serving a certificate made by the JDK's keytool.
 */
class RegistryTlsTest {
  private static final String PASSWORD = "changeit";
  @TempDir static Path directory;
  private static TestCertificates certificates;

  @BeforeAll
  static void makeCertificates() throws Exception {
    certificates = TestCertificates.create(directory, "registry", PASSWORD);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void theClientTrustsTheRegistryThroughItsTrustStoreAndAuthenticates() throws Exception {
    try (EmbeddedSchemaRegistry registry =
        EmbeddedSchemaRegistry.inMemory(
                EmbeddedRegistryConfig.of("unused:0")
                    .withTls(certificates.serverContext())
                    .withBasicAuth("svc:s3cret"))
            .start()) {
      assertEquals("https", registry.url().getScheme());
      Map<String, Object> properties =
          Map.of(
              RegistryClientConfig.URL,
              registry.url().toString(),
              "basic.auth.credentials.source",
              "USER_INFO",
              RegistryClientConfig.BASIC_AUTH_USER_INFO,
              "svc:s3cret",
              RegistryClientConfig.SSL_TRUSTSTORE_LOCATION,
              certificates.trustStore().toString(),
              RegistryClientConfig.SSL_TRUSTSTORE_PASSWORD,
              PASSWORD,
              RegistryClientConfig.RETRY_TIMEOUT_MS,
              "500");
      SchemaRegistryClient client =
          new SchemaRegistryClient(RegistryClientConfig.fromProperties(properties));
      int id = client.register("tokens-value", TokenEvent.getClassSchema());
      assertEquals(TokenEvent.getClassSchema(), client.schemaById(id));
      assertEquals(Duration.ofMillis(500), client.config().retryTimeout());

      // Without the trust store the JVM's defaults refuse the self-made certificate: at once,
      // with the default two minutes of retries (the test's timeout bounds it), since no retry
      // makes a certificate trusted, and saying what to configure.
      RegistryUnavailableException refused =
          refusedWithout(
              properties,
              RegistryClientConfig.SSL_TRUSTSTORE_LOCATION,
              RegistryClientConfig.RETRY_TIMEOUT_MS);
      assertTrue(refused.getCause() instanceof javax.net.ssl.SSLException, String.valueOf(refused));
      assertTrue(
          refused.getMessage().contains("TLS certificate of " + registry.url() + " is not trusted")
              && refused.getMessage().contains(RegistryClientConfig.SSL_TRUSTSTORE_LOCATION),
          refused.getMessage());
    }
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aRegistryRequiringClientCertificatesServesTheClientWithItsKeyStore() throws Exception {
    TestCertificates client = TestCertificates.create(directory, "client", PASSWORD);
    try (EmbeddedSchemaRegistry registry =
        EmbeddedSchemaRegistry.inMemory(
                EmbeddedRegistryConfig.of("unused:0")
                    .withTls(
                        new EmbeddedRegistryConfig.Tls(
                            certificates.serverContextTrusting(client), true)))
            .start()) {
      Map<String, Object> properties =
          Map.of(
              RegistryClientConfig.URL,
              registry.url().toString(),
              RegistryClientConfig.SSL_TRUSTSTORE_LOCATION,
              certificates.trustStore().toString(),
              RegistryClientConfig.SSL_TRUSTSTORE_PASSWORD,
              PASSWORD,
              RegistryClientConfig.SSL_KEYSTORE_LOCATION,
              client.keyStore().toString(),
              RegistryClientConfig.SSL_KEYSTORE_PASSWORD,
              PASSWORD,
              RegistryClientConfig.RETRY_TIMEOUT_MS,
              "500");
      SchemaRegistryClient withCertificate =
          new SchemaRegistryClient(RegistryClientConfig.fromProperties(properties));
      int id = withCertificate.register("tokens-value", TokenEvent.getClassSchema());
      assertEquals(
          Optional.of(id), withCertificate.lookup("tokens-value", TokenEvent.getClassSchema()));

      // Trusting the registry is not enough: it refuses a client without a certificate.
      RegistryUnavailableException refused =
          refusedWithout(properties, RegistryClientConfig.SSL_KEYSTORE_LOCATION);
      assertTrue(refused.getCause() instanceof java.io.IOException, String.valueOf(refused));
    }
  }

  @Test
  void credentialsInAUrlBecomeBasicAuthAndLeaveTheUrl() {
    RegistryClientConfig config =
        RegistryClientConfig.of("https://svc:p%40ss@registry.example:8081/, https://b:8081");
    assertEquals(
        List.of(
            java.net.URI.create("https://registry.example:8081"),
            java.net.URI.create("https://b:8081")),
        config.urls());
    assertEquals(Optional.of("svc:p@ss"), config.basicAuthUserInfo());
    assertFalse(config.toString().contains("p@ss") || config.toString().contains("p%40ss"));
    IllegalArgumentException invalid =
        assertThrows(
            IllegalArgumentException.class,
            () -> RegistryClientConfig.of("https://a:8081,https://svc:s3cret word@b:8081"));
    assertEquals(
        "schema registry URL 2 of schema.registry.url is not a valid URI", invalid.getMessage());
  }

  @Test
  void theUrlIsRequiredAndTheRestHasDefaults() {
    assertThrows(
        IllegalArgumentException.class, () -> RegistryClientConfig.fromProperties(Map.of()));
    RegistryClientConfig config =
        RegistryClientConfig.fromProperties(
            Map.of(RegistryClientConfig.URL, "http://a:8081/, http://b:8081"));
    assertEquals(
        List.of(java.net.URI.create("http://a:8081"), java.net.URI.create("http://b:8081")),
        config.urls());
    assertEquals(Duration.ofMinutes(2), config.retryTimeout());
    assertTrue(config.basicAuthUserInfo().isEmpty());
  }

  /** How a call fails for a client configured with {@code properties} less {@code keys}. */
  private static RegistryUnavailableException refusedWithout(
      Map<String, Object> properties, String... keys) {
    Map<String, Object> less = new HashMap<>(properties);
    for (String key : keys) {
      less.remove(key);
    }
    return assertThrows(
        RegistryUnavailableException.class,
        () -> new SchemaRegistryClient(RegistryClientConfig.fromProperties(less)).subjects());
  }
}
