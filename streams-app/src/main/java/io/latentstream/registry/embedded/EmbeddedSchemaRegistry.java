package io.latentstream.registry.embedded;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.BasicAuthenticator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.latentstream.registry.CompatibilityLevel;
import io.latentstream.registry.RegistryException;
import io.latentstream.registry.SchemaVersion;
import io.latentstream.registry.client.SchemaRegistryClient;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLParameters;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Schema Registry serving the Confluent REST subset that {@link SchemaRegistryClient} uses, for
 * the embedded default and the tests. Schemas and compatibility settings live in a compacted Kafka
 * topic (one partition, {@code _schemas} by default): every change is written there first and
 * applied after the broker acknowledged it, and {@link #start()} replays the topic, so ids and
 * subjects survive restarts. Ids are global: the same schema text has one id in every subject.
 *
 * <p>Concurrency: one instance writes a given schemas topic (like a Confluent registry without
 * leader election). It reads the topic only at start-up, so two writers could hand out the same id;
 * to prevent that, writes are Kafka transactions under one transactional id per topic, and starting
 * a second instance fences the first: the old one keeps answering reads from what it knew, and
 * answers writes with HTTP 500 (error code 50001), which clients retry against their other URLs. A
 * write that fails otherwise (a broker that did not answer in time) is answered with a 500 too, and
 * its outcome is unknown: before the next write the registry reopens the storage and reads back
 * what it holds, as a restart would, so a client's retry finds its schema if the write did land.
 * Run several instances only behind a failover list, not for load. Within an instance, requests are
 * served by a small pool and state changes are serialized by one lock.
 *
 * <p>Endpoints: {@code POST /subjects/{s}/versions}, {@code POST /subjects/{s}}, {@code GET
 * /subjects}, {@code GET /subjects/{s}/versions}, {@code GET /subjects/{s}/versions/{v|latest}},
 * {@code GET /schemas/ids/{id}}, {@code POST /compatibility/subjects/{s}/versions/{v|latest}},
 * {@code GET|PUT /config}, {@code GET|PUT /config/{s}}. Errors use the documented body {@code
 * {"error_code":..., "message":...}}.
 */
public final class EmbeddedSchemaRegistry implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedSchemaRegistry.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final EmbeddedRegistryConfig config;
  private final Object lock = new Object();
  private RegistryState state;
  private final SchemaStorage storage;
  private boolean running;

  /** A write failed with its outcome unknown: reread the storage before the next one. */
  private boolean inDoubt;

  private HttpServer server;
  private ExecutorService executor;

  /** A registry storing into the Kafka topic {@code config.schemasTopic()}. */
  public EmbeddedSchemaRegistry(EmbeddedRegistryConfig config) {
    this(config, new KafkaSchemaStorage(config));
  }

  /** A registry on {@code storage}: for tests of how the registry meets a failing storage. */
  static EmbeddedSchemaRegistry on(EmbeddedRegistryConfig config, SchemaStorage storage) {
    return new EmbeddedSchemaRegistry(config, storage);
  }

  private EmbeddedSchemaRegistry(EmbeddedRegistryConfig config, SchemaStorage storage) {
    this.config = config;
    this.storage = storage;
  }

  /**
   * A registry that keeps its schemas in memory only (lost when the JVM ends), on a free loopback
   * port: for unit tests that need real registry answers without a broker, such as {@code
   * TopologyTestDriver} tests. The Kafka settings of the config are unused.
   */
  public static EmbeddedSchemaRegistry inMemory() {
    return inMemory(EmbeddedRegistryConfig.of("unused:0"));
  }

  /** As {@link #inMemory()}, with the HTTP settings of {@code config} (host, port, auth). */
  public static EmbeddedSchemaRegistry inMemory(EmbeddedRegistryConfig config) {
    return new EmbeddedSchemaRegistry(config, SchemaStorage.inMemory());
  }

  /**
   * Prepares the storage (creating the schemas topic if needed), replays it, then starts serving
   * HTTP.
   *
   * @throws IllegalStateException when Kafka does not answer within the configured timeout
   */
  public EmbeddedSchemaRegistry start() throws IOException {
    long started = System.nanoTime();
    RegistryState replayed = openStorage();
    synchronized (lock) {
      state = replayed;
      running = true;
    }
    InetSocketAddress address = new InetSocketAddress(config.host(), config.port());
    try {
      if (config.tls().isPresent()) {
        HttpsServer https = HttpsServer.create(address, 50);
        EmbeddedRegistryConfig.Tls tls = config.tls().get();
        https.setHttpsConfigurator(
            new HttpsConfigurator(tls.context()) {
              @Override
              public void configure(HttpsParameters parameters) {
                SSLParameters ssl = tls.context().getDefaultSSLParameters();
                ssl.setNeedClientAuth(tls.requireClientCertificate());
                parameters.setSSLParameters(ssl);
              }
            });
        server = https;
      } else {
        server = HttpServer.create(address, 50);
      }
    } catch (IOException e) {
      stop(); // closes the storage opened above
      throw new IOException("cannot listen on " + address + ": " + e.getMessage(), e);
    }
    if (config.basicAuthUserInfo().isPresent()) {
      String[] userAndPassword = config.basicAuthUserInfo().get().split(":", 2);
      server
          .createContext("/", this::handle)
          .setAuthenticator(
              new BasicAuthenticator("latentstream-registry") {
                @Override
                public boolean checkCredentials(String user, String password) {
                  return userAndPassword.length == 2
                      && userAndPassword[0].equals(user)
                      && userAndPassword[1].equals(password);
                }
              });
    } else {
      server.createContext("/", this::handle);
    }
    executor =
        Executors.newFixedThreadPool(
            4,
            r -> {
              Thread t = new Thread(r, "registry-http");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.start();
    LOG.info(
        "Schema registry serving {} from {} ({} subjects) after {} ms",
        url(),
        storage.describe(),
        replayed.subjects().size(),
        (System.nanoTime() - started) / 1_000_000);
    return this;
  }

  /** The base URL to give clients, e.g. {@code http://127.0.0.1:41234}. */
  public URI url() {
    InetSocketAddress address = server.getAddress();
    String scheme = config.tls().isPresent() ? "https" : "http";
    return URI.create(scheme + "://" + address.getHostString() + ":" + address.getPort());
  }

  /**
   * Stops serving and closes the storage. A request being handled finishes its storage write (under
   * the lock) before the storage closes; its answer may be lost, and the client retries.
   */
  public void stop() {
    if (server != null) {
      // stop(0): JDK 17's HttpServer waits the whole delay even when idle.
      server.stop(0);
      executor.shutdown();
      try {
        executor.awaitTermination(2, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      server = null;
    }
    synchronized (lock) {
      if (running) {
        running = false;
        storage.close();
      }
    }
  }

  @Override
  public void close() {
    stop();
  }

  /** Appends {@code entry} to the storage and applies it once stored. Holds the lock. */
  private void persist(SchemasTopicFormat.Entry entry) {
    try {
      storage.append(entry);
    } catch (SchemaStorage.TakenOver e) {
      throw new HttpError(500, RegistryException.INTERNAL_SERVER_ERROR, e.getMessage());
    } catch (RuntimeException e) {
      inDoubt = true;
      throw new HttpError(500, RegistryException.INTERNAL_SERVER_ERROR, e.getMessage());
    }
    state.apply(entry);
  }

  /**
   * After a write with an unknown outcome: reopens the storage and replaces what the registry knew
   * with what the storage holds, so the next write is decided on the truth. Holds the lock.
   */
  private void rereadStorage() {
    try {
      storage.close();
      state = openStorage();
      inDoubt = false;
      LOG.info(
          "Reopened {} after a failed write; {} subjects",
          storage.describe(),
          state.subjects().size());
    } catch (RuntimeException e) {
      throw new HttpError(
          500, RegistryException.INTERNAL_SERVER_ERROR, "cannot reopen the storage: " + e);
    }
  }

  private RegistryState openStorage() {
    RegistryState replayed = new RegistryState(config.defaultCompatibility());
    storage.open().forEach(replayed::apply);
    return replayed;
  }

  // ---- HTTP

  /** An error answer, thrown by the handlers and written in the documented body. */
  private static final class HttpError extends RuntimeException {
    final int status;
    final int errorCode;

    HttpError(int status, int errorCode, String message) {
      super(message);
      this.status = status;
      this.errorCode = errorCode;
    }
  }

  private void handle(HttpExchange exchange) throws IOException {
    int status = 200;
    JsonNode answer;
    try {
      answer = route(exchange.getRequestMethod(), segments(exchange.getRequestURI()), exchange);
    } catch (HttpError e) {
      status = e.status;
      answer =
          JSON.createObjectNode().put("error_code", e.errorCode).put("message", e.getMessage());
    } catch (RuntimeException e) {
      LOG.error(
          "Registry request {} {} failed",
          exchange.getRequestMethod(),
          exchange.getRequestURI(),
          e);
      status = 500;
      answer =
          JSON.createObjectNode()
              .put("error_code", RegistryException.INTERNAL_SERVER_ERROR)
              .put("message", String.valueOf(e));
    }
    byte[] body = JSON.writeValueAsBytes(answer);
    exchange.getResponseHeaders().set("Content-Type", SchemaRegistryClient.CONTENT_TYPE);
    exchange.sendResponseHeaders(status, body.length);
    exchange.getResponseBody().write(body);
    exchange.close();
  }

  private static List<String> segments(URI uri) {
    List<String> segments = new ArrayList<>();
    for (String raw : uri.getRawPath().split("/")) {
      if (!raw.isEmpty()) {
        segments.add(URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8));
      }
    }
    return segments;
  }

  private JsonNode route(String method, List<String> path, HttpExchange exchange)
      throws IOException {
    int n = path.size();
    String first = n > 0 ? path.get(0) : "";
    synchronized (lock) {
      if (!running) {
        throw new HttpError(500, RegistryException.INTERNAL_SERVER_ERROR, "registry is stopped");
      }
      // Reads answer from what the registry knew; a write (or a lookup, also a POST) rereads first.
      if (inDoubt && !method.equals("GET")) {
        rereadStorage();
      }
      if (first.equals("subjects")) {
        if (n == 1 && method.equals("GET")) {
          ArrayNode subjects = JSON.createArrayNode();
          state.subjects().forEach(subjects::add);
          return subjects;
        }
        if (n == 2 && method.equals("POST")) {
          return lookup(path.get(1), schemaFrom(exchange));
        }
        if (n == 3 && path.get(2).equals("versions") && method.equals("POST")) {
          return register(path.get(1), schemaFrom(exchange));
        }
        if (n == 3 && path.get(2).equals("versions") && method.equals("GET")) {
          ArrayNode versions = JSON.createArrayNode();
          existingVersions(path.get(1)).forEach(v -> versions.add(v.version()));
          return versions;
        }
        if (n == 4 && path.get(2).equals("versions") && method.equals("GET")) {
          return describe(version(path.get(1), path.get(3)));
        }
      } else if (first.equals("schemas") && n == 3 && path.get(1).equals("ids")) {
        if (method.equals("GET")) {
          int id = parseInt(path.get(2), RegistryException.SCHEMA_NOT_FOUND, "schema id");
          Schema schema =
              state
                  .schema(id)
                  .orElseThrow(
                      () ->
                          new HttpError(
                              404,
                              RegistryException.SCHEMA_NOT_FOUND,
                              "Schema " + id + " not found"));
          return JSON.createObjectNode().put("schema", schema.toString());
        }
      } else if (first.equals("compatibility")
          && n == 5
          && path.get(1).equals("subjects")
          && path.get(3).equals("versions")) {
        if (method.equals("POST")) {
          Schema candidate = schemaFrom(exchange);
          SchemaVersion against = version(path.get(2), path.get(4));
          CompatibilityLevel level = state.compatibility(path.get(2));
          List<Schema> existing = new ArrayList<>();
          for (SchemaVersion v : state.versions(path.get(2))) {
            if (v.version() <= against.version()) {
              existing.add(v.schema());
            }
          }
          List<String> problems = level.incompatibilities(candidate, existing);
          ObjectNode answer = JSON.createObjectNode().put("is_compatible", problems.isEmpty());
          if (!problems.isEmpty()) {
            ArrayNode messages = answer.putArray("messages");
            problems.forEach(messages::add);
          }
          return answer;
        }
      } else if (first.equals("config") && n <= 2) {
        String subject = n == 2 ? path.get(1) : null;
        if (method.equals("GET")) {
          CompatibilityLevel level;
          if (subject == null) {
            level = state.globalCompatibility();
          } else {
            Optional<CompatibilityLevel> own = state.ownCompatibility(subject);
            if (own.isEmpty() && !query(exchange).contains("defaultToGlobal=true")) {
              throw new HttpError(
                  404,
                  RegistryException.SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
                  "Subject '" + subject + "' does not have subject-level compatibility configured");
            }
            level = own.orElse(state.globalCompatibility());
          }
          return JSON.createObjectNode().put("compatibilityLevel", level.name());
        }
        if (method.equals("PUT")) {
          JsonNode body = body(exchange);
          String requested = body.path("compatibility").asText("");
          CompatibilityLevel level;
          try {
            level = CompatibilityLevel.valueOf(requested);
          } catch (IllegalArgumentException e) {
            throw new HttpError(
                422,
                RegistryException.INVALID_COMPATIBILITY_LEVEL,
                "Invalid compatibility level '" + requested + "'");
          }
          persist(new SchemasTopicFormat.ConfigEntry(subject, level));
          return JSON.createObjectNode().put("compatibility", level.name());
        }
      } else {
        throw new HttpError(404, RegistryException.NOT_FOUND, "HTTP 404 Not Found");
      }
      throw new HttpError(405, RegistryException.METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed");
    }
  }

  private JsonNode register(String subject, Schema schema) {
    Optional<SchemaVersion> existing = state.versionWith(subject, schema);
    if (existing.isPresent()) {
      return JSON.createObjectNode().put("id", existing.get().id());
    }
    List<SchemaVersion> versions = state.versions(subject);
    List<String> problems =
        state
            .compatibility(subject)
            .incompatibilities(schema, versions.stream().map(SchemaVersion::schema).toList());
    if (!problems.isEmpty()) {
      throw new HttpError(
          409,
          RegistryException.INCOMPATIBLE_SCHEMA,
          "Schema being registered is incompatible with an earlier schema for subject \""
              + subject
              + "\" ("
              + state.compatibility(subject)
              + "): "
              + String.join("; ", problems));
    }
    int id = state.idOf(schema).orElse(state.nextId());
    int version = versions.isEmpty() ? 1 : versions.get(versions.size() - 1).version() + 1;
    persist(
        new SchemasTopicFormat.SchemaEntry(subject, version, id, RegistryState.canonical(schema)));
    LOG.info("Registered {} version {} as id {}", subject, version, id);
    return JSON.createObjectNode().put("id", id);
  }

  private JsonNode lookup(String subject, Schema schema) {
    existingVersions(subject);
    SchemaVersion found =
        state
            .versionWith(subject, schema)
            .orElseThrow(
                () -> new HttpError(404, RegistryException.SCHEMA_NOT_FOUND, "Schema not found"));
    return describe(found);
  }

  private List<SchemaVersion> existingVersions(String subject) {
    List<SchemaVersion> versions = state.versions(subject);
    if (versions.isEmpty()) {
      throw new HttpError(
          404, RegistryException.SUBJECT_NOT_FOUND, "Subject '" + subject + "' not found.");
    }
    return versions;
  }

  private SchemaVersion version(String subject, String version) {
    List<SchemaVersion> versions = existingVersions(subject);
    if (version.equals("latest") || version.equals("-1")) {
      return versions.get(versions.size() - 1);
    }
    int wanted = parseInt(version, RegistryException.INVALID_VERSION, "version");
    return versions.stream()
        .filter(v -> v.version() == wanted)
        .findFirst()
        .orElseThrow(
            () ->
                new HttpError(
                    404,
                    RegistryException.VERSION_NOT_FOUND,
                    "Version " + version + " not found."));
  }

  private static ObjectNode describe(SchemaVersion v) {
    return JSON.createObjectNode()
        .put("subject", v.subject())
        .put("version", v.version())
        .put("id", v.id())
        .put("schema", v.schema().toString());
  }

  private static int parseInt(String text, int errorCode, String what) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      throw new HttpError(
          errorCode == RegistryException.INVALID_VERSION ? 422 : 404,
          errorCode,
          "Invalid " + what + " '" + text + "'");
    }
  }

  private static String query(HttpExchange exchange) {
    String query = exchange.getRequestURI().getRawQuery();
    return query == null ? "" : query;
  }

  private static JsonNode body(HttpExchange exchange) throws IOException {
    try (InputStream in = exchange.getRequestBody()) {
      JsonNode node = JSON.readTree(in);
      if (node == null || !node.isObject()) {
        throw new HttpError(422, 422, "Request body must be a JSON object");
      }
      return node;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new HttpError(400, 400, "Malformed JSON: " + e.getOriginalMessage());
    }
  }

  /** The Avro schema of a register/lookup/compatibility body; only AVRO is served. */
  private static Schema schemaFrom(HttpExchange exchange) throws IOException {
    JsonNode body = body(exchange);
    String type = body.path("schemaType").asText("AVRO");
    if (!type.equals("AVRO")) {
      throw new HttpError(422, RegistryException.INVALID_SCHEMA, "Unsupported schema type " + type);
    }
    if (!body.path("references").isMissingNode() && body.path("references").size() > 0) {
      throw new HttpError(
          422, RegistryException.INVALID_SCHEMA, "Schema references are not supported");
    }
    JsonNode text = body.path("schema");
    if (!text.isTextual()) {
      throw new HttpError(422, RegistryException.INVALID_SCHEMA, "Missing \"schema\"");
    }
    try {
      return new Schema.Parser().parse(text.asText());
    } catch (SchemaParseException | NullPointerException e) {
      throw new HttpError(
          422, RegistryException.INVALID_SCHEMA, "Invalid schema: " + e.getMessage());
    }
  }
}
