package io.latentstream.registry.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.registry.CompatibilityLevel;
import io.latentstream.registry.RegistryException;
import io.latentstream.registry.SchemaVersion;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for the Confluent Schema Registry REST API, limited to the documented subset that
 * Confluent, Apicurio (ccompat), Karapace and Redpanda all serve, so it works unchanged against any
 * of them and against the embedded registry (registry.embedded).
 *
 * <p>Caches both ways (schema to id per subject, id to schema): ids never change once assigned, so
 * a warm client never calls the registry on the record path. Calls retry with exponential backoff
 * while the registry is unreachable or answers 5xx, for at most {@link
 * RegistryClientConfig#retryTimeout()}, then throw {@link RegistryUnavailableException}. Thread
 * safe.
 */
public final class SchemaRegistryClient implements AutoCloseable {
  public static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final Logger LOG = LoggerFactory.getLogger(SchemaRegistryClient.class);

  private final RegistryClientConfig config;
  private final HttpClient http;
  private final ObjectMapper json = new ObjectMapper();
  private final Map<String, Map<Schema, Integer>> idsBySubject = new ConcurrentHashMap<>();
  private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();

  public SchemaRegistryClient(RegistryClientConfig config) {
    this.config = config;
    HttpClient.Builder builder =
        HttpClient.newBuilder()
            .connectTimeout(config.requestTimeout())
            .version(HttpClient.Version.HTTP_1_1);
    config.sslContext().ifPresent(builder::sslContext);
    this.http = builder.build();
  }

  public RegistryClientConfig config() {
    return config;
  }

  /**
   * Registers {@code schema} under {@code subject} ({@code POST /subjects/{subject}/versions}) and
   * returns its global id; an identical schema already registered returns its existing id.
   *
   * @throws RegistryException 409 when incompatible with the subject's earlier versions, 42201 when
   *     the registry refuses the schema as invalid
   */
  public int register(String subject, Schema schema) {
    Integer cached = idsBySubject.getOrDefault(subject, Map.of()).get(schema);
    if (cached != null) {
      return cached;
    }
    JsonNode answer =
        send("POST", "/subjects/" + segment(subject) + "/versions", schemaBody(schema));
    int id = answer.path("id").asInt();
    remember(subject, schema, id);
    return id;
  }

  /**
   * The id of {@code schema} if it is registered under {@code subject} ({@code POST
   * /subjects/{subject}}), without registering it; for producers that must not register.
   */
  public Optional<Integer> lookup(String subject, Schema schema) {
    Integer cached = idsBySubject.getOrDefault(subject, Map.of()).get(schema);
    if (cached != null) {
      return Optional.of(cached);
    }
    try {
      JsonNode answer = send("POST", "/subjects/" + segment(subject), schemaBody(schema));
      int id = answer.path("id").asInt();
      remember(subject, schema, id);
      return Optional.of(id);
    } catch (RegistryException e) {
      if (e.errorCode() == RegistryException.SUBJECT_NOT_FOUND
          || e.errorCode() == RegistryException.SCHEMA_NOT_FOUND) {
        return Optional.empty();
      }
      throw e;
    }
  }

  /**
   * The schema registered under {@code id} ({@code GET /schemas/ids/{id}}).
   *
   * @throws RegistryException 40403 when no schema has that id
   */
  public Schema schemaById(int id) {
    Schema cached = schemasById.get(id);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = send("GET", "/schemas/ids/" + id, null);
    Schema schema = parse(answer.path("schema").asText());
    schemasById.putIfAbsent(id, schema);
    return schema;
  }

  /**
   * Whether {@code schema} may be registered next under {@code subject} by the subject's
   * compatibility level ({@code POST /compatibility/subjects/{subject}/versions/latest}); true when
   * the subject does not exist yet, as there is nothing to break.
   */
  public boolean isCompatible(String subject, Schema schema) {
    try {
      JsonNode answer =
          send(
              "POST",
              "/compatibility/subjects/" + segment(subject) + "/versions/latest",
              schemaBody(schema));
      return answer.path("is_compatible").asBoolean(false);
    } catch (RegistryException e) {
      if (e.errorCode() == RegistryException.SUBJECT_NOT_FOUND
          || e.errorCode() == RegistryException.VERSION_NOT_FOUND) {
        return true;
      }
      throw e;
    }
  }

  /** Every subject with a registered version ({@code GET /subjects}). */
  public List<String> subjects() {
    JsonNode answer = send("GET", "/subjects", null);
    List<String> subjects = new ArrayList<>();
    answer.forEach(node -> subjects.add(node.asText()));
    return subjects;
  }

  /**
   * The newest version of {@code subject} ({@code GET /subjects/{subject}/versions/latest}).
   *
   * @throws RegistryException 40401 when the subject does not exist
   */
  public SchemaVersion latestVersion(String subject) {
    JsonNode answer = send("GET", "/subjects/" + segment(subject) + "/versions/latest", null);
    Schema schema = parse(answer.path("schema").asText());
    int id = answer.path("id").asInt();
    schemasById.putIfAbsent(id, schema);
    return new SchemaVersion(
        answer.path("subject").asText(subject), answer.path("version").asInt(), id, schema);
  }

  /**
   * The compatibility level in force for {@code subject}: its own ({@code GET /config/{subject}}),
   * or the global one ({@code GET /config}) when it has none.
   */
  public CompatibilityLevel compatibility(String subject) {
    try {
      return level(send("GET", "/config/" + segment(subject), null));
    } catch (RegistryException e) {
      if (e.errorCode() == RegistryException.SUBJECT_COMPATIBILITY_NOT_CONFIGURED
          || e.errorCode() == RegistryException.SUBJECT_NOT_FOUND) {
        return globalCompatibility();
      }
      throw e;
    }
  }

  /** The registry-wide default level ({@code GET /config}). */
  public CompatibilityLevel globalCompatibility() {
    return level(send("GET", "/config", null));
  }

  /** Sets {@code subject}'s own compatibility level ({@code PUT /config/{subject}}). */
  public CompatibilityLevel setCompatibility(String subject, CompatibilityLevel level) {
    ObjectNode body = json.createObjectNode().put("compatibility", level.name());
    return level(send("PUT", "/config/" + segment(subject), body));
  }

  @Override
  public void close() {
    // java.net.http.HttpClient gained close() only in Java 21; its threads are daemons.
  }

  private void remember(String subject, Schema schema, int id) {
    idsBySubject.computeIfAbsent(subject, s -> new ConcurrentHashMap<>()).put(schema, id);
    schemasById.putIfAbsent(id, schema);
  }

  /** Confluent answers {@code compatibilityLevel} on GET and {@code compatibility} on PUT. */
  private static CompatibilityLevel level(JsonNode answer) {
    String level = answer.path("compatibilityLevel").asText(answer.path("compatibility").asText());
    return CompatibilityLevel.valueOf(level);
  }

  private ObjectNode schemaBody(Schema schema) {
    // schemaType is omitted: AVRO is the default everywhere, and older registries reject the field.
    return json.createObjectNode().put("schema", schema.toString());
  }

  private static Schema parse(String text) {
    return new Schema.Parser().parse(text);
  }

  private static String segment(String raw) {
    return URLEncoder.encode(raw, StandardCharsets.UTF_8).replace("+", "%20");
  }

  /**
   * One API call, retried across URLs with exponential backoff while the registry is unreachable or
   * failing server-side; a 4xx answer is returned to the caller at once as {@link
   * RegistryException}.
   */
  private JsonNode send(String method, String path, JsonNode body) {
    long deadline = System.nanoTime() + config.retryTimeout().toNanos();
    Duration backoff = config.retryBackoffInitial();
    Exception lastFailure;
    for (int attempt = 0; ; attempt++) {
      URI base = config.urls().get(attempt % config.urls().size());
      try {
        HttpResponse<String> response =
            http.send(request(base, method, path, body), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() / 100 == 2) {
          return json.readTree(response.body());
        }
        RegistryException error = error(response);
        if (!error.isRetriable()) {
          throw error;
        }
        lastFailure = error;
      } catch (IOException e) {
        if (untrustedCertificate(e)) {
          throw new RegistryUnavailableException(
              method
                  + " "
                  + path
                  + ": the TLS certificate of "
                  + base
                  + " is not trusted ("
                  + e.getMessage()
                  + "); give the client a trust store holding it or its CA ("
                  + RegistryClientConfig.SSL_TRUSTSTORE_LOCATION
                  + ")",
              e);
        }
        lastFailure = e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RegistryUnavailableException(method + " " + path + " interrupted", e);
      }
      if (System.nanoTime() + backoff.toNanos() > deadline) {
        throw new RegistryUnavailableException(
            method
                + " "
                + path
                + " failed for "
                + config.retryTimeout()
                + " ("
                + (attempt + 1)
                + " attempts) against "
                + config.urls()
                + ": "
                + lastFailure,
            lastFailure);
      }
      LOG.warn(
          "Schema registry {} {} {} failed ({}); retrying in {} ms",
          base,
          method,
          path,
          lastFailure.toString(),
          backoff.toMillis());
      try {
        Thread.sleep(backoff.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RegistryUnavailableException(method + " " + path + " interrupted", e);
      }
      backoff = backoff.multipliedBy(2);
      if (backoff.compareTo(config.retryBackoffMax()) > 0) {
        backoff = config.retryBackoffMax();
      }
    }
  }

  /** Whether the TLS handshake failed on the server's certificate (untrusted, wrong host). */
  private static boolean untrustedCertificate(IOException e) {
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (cause instanceof java.security.cert.CertificateException) {
        return true;
      }
    }
    return false;
  }

  private HttpRequest request(URI base, String method, String path, JsonNode body)
      throws IOException {
    HttpRequest.Builder builder =
        HttpRequest.newBuilder(URI.create(base + path))
            .timeout(config.requestTimeout())
            .header("Accept", CONTENT_TYPE + ", application/json");
    config.authorizationHeader().ifPresent(value -> builder.header("Authorization", value));
    if (body == null) {
      builder.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      builder
          .header("Content-Type", CONTENT_TYPE)
          .method(method, HttpRequest.BodyPublishers.ofByteArray(json.writeValueAsBytes(body)));
    }
    return builder.build();
  }

  /** Decodes the documented error body; a non-JSON body (a proxy's page) keeps the status. */
  private RegistryException error(HttpResponse<String> response) {
    int status = response.statusCode();
    try {
      JsonNode node = json.readTree(response.body());
      if (node != null && node.has("error_code")) {
        return new RegistryException(
            status, node.path("error_code").asInt(status), node.path("message").asText(""));
      }
    } catch (IOException notJson) {
      // fall through
    }
    String text = response.body() == null ? "" : response.body();
    return new RegistryException(
        status, status, text.length() > 200 ? text.substring(0, 200) : text);
  }
}
