package io.latentstream.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.schemas.TokenEvent;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client configured from Confluent's property keys, over HTTPS with a trust store and basic
 * auth, against the embedded registry serving a certificate made by the JDK's keytool.
 */
class RegistryTlsTest {
  private static final String PASSWORD = "changeit";
  @TempDir static Path directory;
  private static Path serverKeyStore;
  private static Path trustStore;

  @BeforeAll
  static void makeCertificates() throws Exception {
    serverKeyStore = directory.resolve("server.p12");
    trustStore = directory.resolve("trust.p12");
    Path certificate = directory.resolve("server.crt");
    keytool(
        "-genkeypair",
        "-alias",
        "registry",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-dname",
        "CN=localhost",
        "-ext",
        "SAN=ip:127.0.0.1,dns:localhost",
        "-validity",
        "2",
        "-storetype",
        "PKCS12",
        "-keystore",
        serverKeyStore.toString(),
        "-storepass",
        PASSWORD,
        "-keypass",
        PASSWORD);
    keytool(
        "-exportcert",
        "-alias",
        "registry",
        "-keystore",
        serverKeyStore.toString(),
        "-storepass",
        PASSWORD,
        "-file",
        certificate.toString());
    keytool(
        "-importcert",
        "-noprompt",
        "-alias",
        "registry",
        "-file",
        certificate.toString(),
        "-storetype",
        "PKCS12",
        "-keystore",
        trustStore.toString(),
        "-storepass",
        PASSWORD);
  }

  @Test
  void theClientTrustsTheRegistryThroughItsTrustStoreAndAuthenticates() throws Exception {
    try (EmbeddedSchemaRegistry registry =
        EmbeddedSchemaRegistry.inMemory(
                EmbeddedRegistryConfig.of("unused:0")
                    .withTls(serverContext())
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
              trustStore.toString(),
              RegistryClientConfig.SSL_TRUSTSTORE_PASSWORD,
              PASSWORD,
              RegistryClientConfig.RETRY_TIMEOUT_MS,
              "500");
      SchemaRegistryClient client =
          new SchemaRegistryClient(RegistryClientConfig.fromProperties(properties));
      int id = client.register("tokens-value", TokenEvent.getClassSchema());
      assertEquals(TokenEvent.getClassSchema(), client.schemaById(id));
      assertEquals(Duration.ofMillis(500), client.config().retryTimeout());

      // Without the trust store the JVM's defaults refuse the self-made certificate.
      Map<String, Object> untrusting = new java.util.HashMap<>(properties);
      untrusting.remove(RegistryClientConfig.SSL_TRUSTSTORE_LOCATION);
      RegistryUnavailableException refused =
          assertThrows(
              RegistryUnavailableException.class,
              () ->
                  new SchemaRegistryClient(RegistryClientConfig.fromProperties(untrusting))
                      .subjects());
      assertTrue(refused.getCause() instanceof javax.net.ssl.SSLException, String.valueOf(refused));
    }
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

  private static SSLContext serverContext() throws Exception {
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(serverKeyStore)) {
      store.load(in, PASSWORD.toCharArray());
    }
    KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    keys.init(store, PASSWORD.toCharArray());
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(keys.getKeyManagers(), null, null);
    return context;
  }

  private static void keytool(String... args) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes());
    if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
      throw new IllegalStateException("keytool " + args[0] + " failed: " + output);
    }
  }
}
