package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport;
import io.latentstream.registry.client.AvroSerdes;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.testing.EventReader;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service on a secured cluster, configured the way docker/README.md tells operators to: a KRaft
 * broker (child JVM) that authenticates with SASL/SCRAM-SHA-512 and authorizes with ACLs; the
 * embedded registry ({@code latentstream registry}, child JVM) storing its schemas as its own SCRAM
 * user from {@code --command-config} and asking for HTTP basic auth; a publisher ({@code
 * latentstream publish --command-config}); and a service instance (child JVM) that gets its Kafka
 * security settings from a YAML file named by {@code MICRONAUT_CONFIG_FILES} and its secrets from
 * an environment variable and a secret file (also named there). The deployment serves tenants a and
 * b, each with topics of its own and a principal of its own. The service holds exactly the ACLs
 * listed in docker/README.md and generates; tenant b's principal can neither publish to a's
 * prompts, read a's tokens, nor continue a's session (a prompt on b's topic naming tenant a is
 * refused as TENANT_MISMATCH; b's turn with a's session id is a fresh session of b's); a client
 * without WRITE on a's prompts is refused; a wrong password does not authenticate; and nothing the
 * service or the registry logs, Kafka clients' configuration dumps included, contains a secret.
 * Also the console's switch: the secured deployment turns it off with {@code
 * LATENTSTREAM_CONSOLE_ENABLED=false}.
 */
class SecureClusterTest {
  private static final Path MODEL = Path.of("../models/brown-mtp").toAbsolutePath().normalize();
  private static final String PREFIX = "sec.";
  private static final String APPLICATION_ID = "secure-test";
  private static final String SERVICE = "latentstream";
  private static final String REGISTRY = "schema-registry";
  private static final List<String> TENANTS = List.of("a", "b");
  private static final String TENANT_A = "tenant-a";
  private static final String TENANT_B = "tenant-b";
  private static final String AUDITOR = "auditor";
  private static final String AUDIT_OUTPUT = PREFIX + "replayed-tokens";

  /**
   * Kafka's clients print their whole configuration at INFO: the children log it, to check that it
   * hides the secrets.
   */
  private static final String KAFKA_CLIENT_LOGS =
      "-Dorg.slf4j.simpleLogger.log.org.apache.kafka=info";

  /** Random, so that finding one in a log can only be a leak. */
  private final Map<String, String> passwords = new HashMap<>();

  @TempDir Path directory;
  private LocalKafkaCluster cluster;
  private Process registry;
  private ServiceProcesses services;

  @AfterEach
  void stopEverything() throws Exception {
    // The service first, then what it uses.
    if (services != null) {
      services.close();
    }
    if (registry != null) {
      registry.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (cluster != null) {
      cluster.stop();
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void theServiceWithItsAclsGeneratesOthersAreRefusedAndNoSecretIsLogged() throws Exception {
    String adminPassword = password("admin");
    cluster =
        new LocalKafkaCluster(
                LocalKafkaCluster.Config.of(1, directory.resolve("kafka"))
                    .withScram(new LocalKafkaCluster.Scram("admin", adminPassword)))
            .start();
    try (Admin admin = Admin.create(clientProperties(cluster.superUserClientProperties()))) {
      List<UserScramCredentialAlteration> users = new ArrayList<>();
      for (String user : List.of(SERVICE, REGISTRY, TENANT_A, TENANT_B, AUDITOR)) {
        users.add(
            new UserScramCredentialUpsertion(
                user, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password(user)));
      }
      admin.alterUserScramCredentials(users).all().get(30, TimeUnit.SECONDS);
      List<NewTopic> topics = new ArrayList<>(Topics.newTopics(PREFIX, TENANTS, 2, (short) 1));
      topics.add(new NewTopic(AUDIT_OUTPUT, 1, (short) 1));
      admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
      admin.createAcls(acls()).all().get(30, TimeUnit.SECONDS);
    }

    // The registry as operators start it: Kafka settings from --command-config, its basic-auth
    // secret from the environment.
    String registryUserInfo = REGISTRY + ":" + password("registry-http");
    registry =
        ServiceProcesses.command(
            directory.resolve("registry.log"),
            List.of(KAFKA_CLIENT_LOGS),
            List.of(
                "registry",
                "--bootstrap-servers",
                cluster.bootstrapServers(),
                "--command-config",
                propertiesFile("registry.properties", scram(REGISTRY)).toString(),
                "--port",
                "0"),
            Map.of("LATENTSTREAM_REGISTRY_BASIC_AUTH", registryUserInfo));
    String registryUrl = awaitRegistryUrl();
    Topics topics =
        Topics.create(
            PREFIX,
            TENANTS,
            new SchemaRegistryClient(
                RegistryClientConfig.of(registryUrl).withBasicAuth(registryUserInfo)),
            AvroSerdes.Config.VALUES);
    Topics ofA = topics.tenant("a");
    Topics ofB = topics.tenant("b");

    // The operator's files, as docker/README.md shows: settings in YAML, secrets in the
    // environment or in files.
    Path securityFile = directory.resolve("kafka-security.yml");
    Files.writeString(
        securityFile,
        """
        kafka:
          security.protocol: SASL_PLAINTEXT
          sasl.mechanism: SCRAM-SHA-512
          sasl.jaas.config: >-
            org.apache.kafka.common.security.scram.ScramLoginModule required
            username="${SASL_USERNAME}" password="${SASL_PASSWORD}";
          # Health checks connectivity only: the full check reads the brokers' configuration,
          # which needs DESCRIBE_CONFIGS on the cluster.
          health.restricted: true
        """);
    // A secret in a file of its own (a mounted secret), also named by MICRONAUT_CONFIG_FILES.
    Path secretFile = directory.resolve("registry-secret.yml");
    Files.writeString(secretFile, "latentstream.schema-registry-basic-auth: " + registryUserInfo);
    services =
        new ServiceProcesses(
            directory, cluster.bootstrapServers(), registryUrl, topics, MODEL, APPLICATION_ID);
    services.start(
        "secure",
        List.of(KAFKA_CLIENT_LOGS),
        Map.of("latentstream.tenants", String.join(",", TENANTS)),
        Map.of(
            "MICRONAUT_CONFIG_FILES",
            securityFile + "," + secretFile,
            "SASL_USERNAME",
            SERVICE,
            "SASL_PASSWORD",
            password(SERVICE),
            "LATENTSTREAM_CONSOLE_ENABLED",
            "false"));
    services.awaitRunning("secure");

    // Tenant a's publisher through the command line, its secrets (SASL and the registry's basic
    // auth) in the --command-config file: a turn of a's session.
    var published = publish(TENANT_A, "a", registryUrl, registryUserInfo, "secure-1", null);
    assertEquals(0, published.exitCode(), published.err());
    Completion completion;
    try (EventReader observed = observe(AUDITOR, ofA)) {
      observed.awaitCompletedWithTokens(Set.of("secure-1"), Duration.ofSeconds(120));
      completion = observed.completions().get("secure-1");
      assertEquals(6, completion.getTokenIds().size());
      assertEquals(List.of(0, 1, 2, 3, 4, 5), observed.indices("secure-1"));
    }

    // Tenant b may neither write a's prompts nor read a's tokens: the ACLs refuse it.
    try (KafkaProducer<String, byte[]> b =
        new KafkaProducer<>(
            clientProperties(scram(TENANT_B)), new StringSerializer(), new ByteArraySerializer())) {
      assertUnauthorized(
          ofA.prompts().name(),
          () -> b.send(new ProducerRecord<>(ofA.prompts().name(), "k", new byte[] {1})).get());
    }
    try (KafkaConsumer<String, byte[]> b = consumer(TENANT_B, ofA.tokens().name())) {
      assertUnauthorized(ofA.tokens().name(), () -> b.poll(Duration.ofSeconds(10)));
    }
    // Nor continue a's session through its own topic: naming tenant a is refused, and under its
    // own name a's session id is a session of b's, with none of a's history.
    assertEquals(
        0, publish(TENANT_B, "b", registryUrl, registryUserInfo, "b-as-a", "a").exitCode());
    assertEquals(0, publish(TENANT_B, "b", registryUrl, registryUserInfo, "b-1", "b").exitCode());
    try (EventReader b =
        EventReader.committed(clientProperties(scram(TENANT_B)), ofB.generationErrors())) {
      GenerationError refused = b.awaitError("b-as-a", Duration.ofSeconds(120));
      assertEquals(ErrorCode.TENANT_MISMATCH, refused.getCode(), refused.getMessage());
    }
    Completion ofBsTurn;
    try (EventReader observedB = observe(TENANT_B, ofB)) {
      observedB.awaitCompletedWithTokens(Set.of("b-1"), Duration.ofSeconds(120));
      ofBsTurn = observedB.completions().get("b-1");
    }
    assertEquals(completion.getUsage().getPromptTokens(), ofBsTurn.getUsage().getPromptTokens());
    assertEquals(0, ofBsTurn.getUsage().getCachedPromptTokens(), "nothing of a's session cache");
    assertEquals(completion.getTokenIds(), ofBsTurn.getTokenIds(), "the same turn, fresh");

    // The auditor writes its own topic, but not prompts: the refusal is the missing WRITE ACL.
    try (KafkaProducer<String, byte[]> auditor =
        new KafkaProducer<>(
            clientProperties(scram(AUDITOR)), new StringSerializer(), new ByteArraySerializer())) {
      auditor.send(new ProducerRecord<>(AUDIT_OUTPUT, "k", new byte[] {1})).get();
      ExecutionException refused =
          assertThrows(
              ExecutionException.class,
              () ->
                  auditor
                      .send(new ProducerRecord<>(ofA.prompts().name(), "k", new byte[] {1}))
                      .get(30, TimeUnit.SECONDS));
      TopicAuthorizationException denied =
          assertInstanceOf(TopicAuthorizationException.class, refused.getCause());
      assertEquals(Set.of(ofA.prompts().name()), denied.unauthorizedTopics());
    }

    Map<String, Object> wrongPassword =
        LocalKafkaCluster.Scram.clientProperties(TENANT_A, password(TENANT_A) + "x");
    try (Admin impostor = Admin.create(clientProperties(wrongPassword))) {
      ExecutionException failed =
          assertThrows(
              ExecutionException.class,
              () -> impostor.describeCluster().nodes().get(30, TimeUnit.SECONDS));
      assertInstanceOf(SaslAuthenticationException.class, failed.getCause());
    }

    // The console is off: its page and API are not served, the rest of the service is.
    Matcher url = Pattern.compile("running \\S+ on (\\S+)").matcher(services.log("secure"));
    assertTrue(url.find());
    HttpResponse<String> health = get(url.group(1) + "/health");
    assertEquals(200, health.statusCode(), health.body());
    assertEquals(404, get(url.group(1) + "/console/index.html").statusCode());
    assertEquals(404, get(url.group(1) + "/console/api/stats").statusCode());
    assertEquals(401, anonymous(url.group(1) + "/console/api/stats").statusCode());
    // Nor does HTTP hand out the configuration: the health details hold no secret, and the
    // environment endpoint (every property) is not served.
    passwords.forEach(
        (user, secret) ->
            assertFalse(health.body().contains(secret), "/health shows the password of " + user));
    assertEquals(404, get(url.group(1) + "/env").statusCode());

    services.stop("secure");
    registry.destroy();
    assertTrue(registry.waitFor(30, TimeUnit.SECONDS), "the registry stops on SIGTERM");
    String serviceLog = services.log("secure");
    assertTrue(
        serviceLog.contains("GenerationProcessor - finished"),
        "the captured output holds the request's log lines");
    String registryLog = Files.readString(directory.resolve("registry.log"));
    assertTrue(registryLog.contains("Registered " + PREFIX + "a.tokens-value"), registryLog);
    for (String log : List.of(serviceLog, registryLog)) {
      assertTrue(
          log.contains("sasl.jaas.config = [hidden]"),
          "the captured output holds the Kafka clients' configuration dumps");
      passwords.forEach(
          (user, secret) ->
              assertFalse(log.contains(secret), "a log shows the password of " + user));
    }
  }

  /** Waits for the registry to print its URL; fails if it exits first. */
  private String awaitRegistryUrl() throws Exception {
    Pattern url = Pattern.compile("schema registry url: (\\S+)");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      String log = Files.readString(directory.resolve("registry.log"));
      Matcher printed = url.matcher(log);
      if (printed.find()) {
        return printed.group(1);
      }
      assertTrue(registry.isAlive(), "the registry exited:\n" + log);
      assertTrue(System.nanoTime() < deadline, "the registry did not start:\n" + log);
      Thread.sleep(200);
    }
  }

  /** A client properties file, as {@code --command-config} takes. */
  private Path propertiesFile(String name, Map<String, Object> settings) throws IOException {
    Properties properties = new Properties();
    properties.putAll(settings);
    Path file = directory.resolve(name);
    try (OutputStream out = Files.newOutputStream(file)) {
      properties.store(out, null);
    }
    return file;
  }

  /**
   * What each principal may do: the service exactly what docker/README.md lists; the registry its
   * schemas topic and transactional id; the publisher writes prompts; the auditor reads the event
   * logs and writes its own output topic.
   */
  private static List<AclBinding> acls() {
    List<AclBinding> acls = new ArrayList<>();
    for (String tenant : TENANTS) {
      String topics = PREFIX + tenant + ".";
      allow(acls, SERVICE, ResourceType.TOPIC, topics + "prompts", false, AclOperation.READ);
      for (String output : List.of("tokens", "token-chunks", "completions", "generation-errors")) {
        allow(acls, SERVICE, ResourceType.TOPIC, topics + output, false, AclOperation.WRITE);
      }
    }
    // The request-id claims go round through the service's own two topics.
    for (String own : List.of("request-claims", "request-verdicts")) {
      for (AclOperation operation : List.of(AclOperation.READ, AclOperation.WRITE)) {
        allow(acls, SERVICE, ResourceType.TOPIC, PREFIX + own, false, operation);
      }
    }
    allow(acls, SERVICE, ResourceType.GROUP, APPLICATION_ID, false, AclOperation.READ);
    // Internal topics (changelogs) and transactional ids all start with the application id.
    for (AclOperation operation :
        List.of(AclOperation.CREATE, AclOperation.READ, AclOperation.WRITE)) {
      allow(acls, SERVICE, ResourceType.TOPIC, APPLICATION_ID + "-", true, operation);
    }
    allow(
        acls,
        SERVICE,
        ResourceType.TRANSACTIONAL_ID,
        APPLICATION_ID + "-",
        true,
        AclOperation.WRITE);

    String schemas = EmbeddedRegistryConfig.DEFAULT_SCHEMAS_TOPIC;
    for (AclOperation operation :
        List.of(AclOperation.CREATE, AclOperation.READ, AclOperation.WRITE)) {
      allow(acls, REGISTRY, ResourceType.TOPIC, schemas, false, operation);
    }
    allow(
        acls,
        REGISTRY,
        ResourceType.TRANSACTIONAL_ID,
        "latentstream-registry-" + schemas,
        false,
        AclOperation.WRITE);

    // Each tenant's principal writes its prompts and reads its outputs, all under its prefix.
    for (String tenant : TENANTS) {
      String principal = "tenant-" + tenant;
      String topics = PREFIX + tenant + ".";
      allow(acls, principal, ResourceType.TOPIC, topics + "prompts", false, AclOperation.WRITE);
      for (String output : List.of("tokens", "token-chunks", "completions", "generation-errors")) {
        allow(acls, principal, ResourceType.TOPIC, topics + output, false, AclOperation.READ);
      }
      allow(acls, principal, ResourceType.GROUP, "observer-", true, AclOperation.READ);
    }

    for (String input : List.of("prompts", "tokens", "token-chunks", "completions")) {
      allow(acls, AUDITOR, ResourceType.TOPIC, PREFIX + "a." + input, false, AclOperation.READ);
    }
    allow(acls, AUDITOR, ResourceType.TOPIC, AUDIT_OUTPUT, false, AclOperation.WRITE);
    allow(acls, AUDITOR, ResourceType.GROUP, "observer-", true, AclOperation.READ);
    return acls;
  }

  private static void allow(
      List<AclBinding> acls,
      String user,
      ResourceType type,
      String name,
      boolean prefixed,
      AclOperation operation) {
    acls.add(
        new AclBinding(
            new ResourcePattern(type, name, prefixed ? PatternType.PREFIXED : PatternType.LITERAL),
            new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW)));
  }

  /**
   * {@code latentstream publish} as {@code principal} to {@code tenant}'s topics, a turn of session
   * case-1 naming {@code tenantField}; null: the topics' tenant.
   */
  private LatentstreamCliTestSupport.Result publish(
      String principal,
      String tenant,
      String registryUrl,
      String registryAuth,
      String requestId,
      String tenantField)
      throws IOException {
    Map<String, Object> config = new HashMap<>(scram(principal));
    config.put(RegistryClientConfig.BASIC_AUTH_USER_INFO, registryAuth);
    List<String> arguments =
        new ArrayList<>(
            List.of(
                "publish",
                "--bootstrap-servers",
                cluster.bootstrapServers(),
                "--command-config",
                propertiesFile(principal + ".properties", config).toString(),
                "--schema-registry-url",
                registryUrl,
                "--topic-prefix",
                PREFIX,
                "--tenant-topics",
                tenant,
                "--session",
                "case-1",
                "--request-id",
                requestId,
                "--text",
                "The jury said",
                "--max-new-tokens",
                "6"));
    if (tenantField != null) {
      arguments.addAll(List.of("--tenant", tenantField));
    }
    return LatentstreamCliTestSupport.run(arguments.toArray(String[]::new));
  }

  /** A consumer of {@code topic} as {@code principal}, from the start. */
  private KafkaConsumer<String, byte[]> consumer(String principal, String topic) {
    KafkaConsumer<String, byte[]> consumer =
        EventReader.committedConsumer(
            clientProperties(scram(principal)), new ByteArrayDeserializer());
    consumer.subscribe(List.of(topic));
    return consumer;
  }

  /** A reader of the tenant's tokens and completions as {@code principal}. */
  private EventReader observe(String principal, Topics tenant) {
    return EventReader.committed(
        clientProperties(scram(principal)), tenant.tokens(), tenant.completions());
  }

  private static void assertUnauthorized(
      String topic, org.junit.jupiter.api.function.Executable call) {
    Throwable thrown = assertThrows(Exception.class, call);
    Throwable cause = thrown instanceof ExecutionException ? thrown.getCause() : thrown;
    TopicAuthorizationException denied = assertInstanceOf(TopicAuthorizationException.class, cause);
    assertEquals(Set.of(topic), denied.unauthorizedTopics());
  }

  private String password(String user) {
    return passwords.computeIfAbsent(user, u -> UUID.randomUUID().toString());
  }

  private Map<String, Object> scram(String user) {
    return LocalKafkaCluster.Scram.clientProperties(user, password(user));
  }

  private Map<String, Object> clientProperties(Map<String, Object> security) {
    Map<String, Object> properties = new HashMap<>(security);
    properties.put("bootstrap.servers", cluster.bootstrapServers());
    return properties;
  }

  /** A GET with the service's credentials: what is refused is refused for itself. */
  private static HttpResponse<String> get(String url) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            ServiceProcesses.authenticated(URI.create(url)).build(),
            HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> anonymous(String url) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
