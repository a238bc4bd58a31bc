package io.latentstream.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Schema Registry serving the Confluent REST subset that {@link SchemaRegistryClient} uses, for
 * the embedded default and the tests. Schemas and compatibility settings live in a compacted Kafka
 * topic (one partition, {@code _schemas} by default): every change is written there first and
 * applied after the broker acknowledged it, and {@link #start()} replays the topic, so ids and
 * subjects survive restarts. Ids are global: the same schema text has one id in every subject.
 *
 * <p>Concurrency: exactly one instance may write a given schemas topic at a time (like a Confluent
 * registry without leader election). It reads the topic only at start-up, so a second writer's
 * registrations would stay invisible to it and could reuse ids. Requests are served by a small
 * pool; state changes are serialized by one lock.
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
  private KafkaProducer<byte[], byte[]> producer;
  private HttpServer server;
  private ExecutorService executor;

  public EmbeddedSchemaRegistry(EmbeddedRegistryConfig config) {
    this.config = config;
  }

  /**
   * Creates the schemas topic if needed, replays it, then starts serving HTTP.
   *
   * @throws IllegalStateException when Kafka does not answer within the configured timeout
   */
  public EmbeddedSchemaRegistry start() throws IOException {
    long started = System.nanoTime();
    ensureSchemasTopic();
    RegistryState replayed = replay();
    Map<String, Object> producerProps = new HashMap<>(config.kafkaClientProperties());
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerProps.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, config.kafkaTimeout().toMillis());
    producerProps.put(
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) config.kafkaTimeout().toMillis());
    producerProps.put(
        ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG,
        (int) Math.min(config.kafkaTimeout().toMillis(), 30_000));
    producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    producerProps.put(ProducerConfig.CLIENT_ID_CONFIG, "latentstream-registry");
    synchronized (lock) {
      state = replayed;
      producer =
          new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer());
    }
    server = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 50);
    executor =
        Executors.newFixedThreadPool(
            4,
            r -> {
              Thread t = new Thread(r, "registry-http");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
    LOG.info(
        "Schema registry serving {} from topic {} ({} subjects) after {} ms",
        url(),
        config.schemasTopic(),
        replayed.subjects().size(),
        (System.nanoTime() - started) / 1_000_000);
    return this;
  }

  /** The base URL to give clients, e.g. {@code http://127.0.0.1:41234}. */
  public URI url() {
    InetSocketAddress address = server.getAddress();
    return URI.create("http://" + address.getHostString() + ":" + address.getPort());
  }

  /** Stops serving (in-flight requests get a second to finish) and closes the producer. */
  public void stop() {
    if (server != null) {
      server.stop(1);
      executor.shutdownNow();
      server = null;
    }
    synchronized (lock) {
      if (producer != null) {
        producer.close(Duration.ofSeconds(5));
        producer = null;
      }
    }
  }

  @Override
  public void close() {
    stop();
  }

  // ---- Kafka storage

  private Map<String, Object> clientProps() {
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    return props;
  }

  private void ensureSchemasTopic() {
    try (Admin admin = Admin.create(clientProps())) {
      long timeout = config.kafkaTimeout().toMillis();
      int brokers = admin.describeCluster().nodes().get(timeout, TimeUnit.MILLISECONDS).size();
      // One partition keeps a total order of registrations; replicate as far as the cluster allows.
      short replication = (short) Math.min(3, Math.max(1, brokers));
      NewTopic topic =
          new NewTopic(config.schemasTopic(), 1, replication)
              .configs(
                  Map.of(
                      TopicConfig.CLEANUP_POLICY_CONFIG,
                      TopicConfig.CLEANUP_POLICY_COMPACT,
                      TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG,
                      String.valueOf(Math.min(2, (int) replication))));
      try {
        admin.createTopics(List.of(topic)).all().get(timeout, TimeUnit.MILLISECONDS);
        LOG.info("Created schemas topic {} (replication {})", config.schemasTopic(), replication);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw new IllegalStateException("cannot create " + config.schemasTopic(), e.getCause());
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating " + config.schemasTopic(), e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException(
          "Kafka at " + config.bootstrapServers() + " did not answer in " + config.kafkaTimeout(),
          e);
    }
  }

  /** Reads the schemas topic from the beginning to its current end. */
  private RegistryState replay() {
    RegistryState replayed = new RegistryState(config.defaultCompatibility());
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, "latentstream-registry-replay");
    TopicPartition partition = new TopicPartition(config.schemasTopic(), 0);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      long end = consumer.endOffsets(List.of(partition), config.kafkaTimeout()).get(partition);
      long deadline = System.nanoTime() + config.kafkaTimeout().toNanos();
      int records = 0;
      while (consumer.position(partition, config.kafkaTimeout()) < end) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("replay of " + config.schemasTopic() + " timed out");
        }
        for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
          SchemasTopicFormat.parse(record.key(), record.value()).ifPresent(replayed::apply);
          records++;
        }
      }
      LOG.info("Replayed {} records of {}", records, config.schemasTopic());
    }
    return replayed;
  }

  /** Writes {@code entry} and applies it once the broker acknowledged it. Holds the lock. */
  private void persist(SchemasTopicFormat.Entry entry) {
    try {
      producer
          .send(
              new ProducerRecord<>(
                  config.schemasTopic(),
                  0,
                  SchemasTopicFormat.key(entry),
                  SchemasTopicFormat.value(entry)))
          .get(config.kafkaTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HttpError(500, RegistryException.INTERNAL_SERVER_ERROR, "interrupted");
    } catch (ExecutionException | TimeoutException e) {
      throw new HttpError(
          500,
          RegistryException.INTERNAL_SERVER_ERROR,
          "cannot write to " + config.schemasTopic() + ": " + e);
    }
    state.apply(entry);
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
      if (state == null || producer == null) {
        throw new HttpError(500, RegistryException.INTERNAL_SERVER_ERROR, "registry is stopped");
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
