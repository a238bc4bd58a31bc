package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.ops.local.TopicsCommand;
import io.micronaut.core.util.EnvironmentProperties;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/**
 * The deployment files in {@code docker/} agree with the code they deploy: the compose stack's
 * services, ports and broker quorum are consistent, the service containers set only variables the
 * service reads (taken from application.yml, not from a list here), and the image's entrypoint and
 * the topics init name a real class and a valid command line. No Docker engine is needed.
 */
class DeploymentFilesTest {
  private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([A-Z0-9_]+):");
  private static final Pattern LISTENER = Pattern.compile("([A-Z_]+)://([^:,]*):(\\d+)");
  private static final Pattern VOTER = Pattern.compile("(\\d+)@([^:,]+):(\\d+)");
  private static final String SERVICE_IMAGE_PREFIX = "latentstream:";

  private static Path root;
  private static Map<String, Map<String, Object>> compose;
  private static Map<String, Map<String, Object>> gpuOverlay;
  private static ConfigurationKeys configurationKeys;
  private static String dockerfile;

  @BeforeAll
  static void load() throws IOException {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isRegularFile(dir.resolve("docker/compose.yaml"))) {
      dir = dir.getParent();
    }
    assertNotNull(dir, "docker/compose.yaml not found above " + Path.of("").toAbsolutePath());
    root = dir;
    compose = services(root.resolve("docker/compose.yaml"));
    gpuOverlay = services(root.resolve("docker/compose.gpu.yaml"));
    configurationKeys =
        ConfigurationKeys.of(root.resolve("streams-app/src/main/resources/application.yml"));
    dockerfile = Files.readString(root.resolve("docker/Dockerfile"));
  }

  @Test
  void theStackHasItsServicesOnDistinctHostPorts() {
    assertEquals(
        Set.of(
            "kafka-1",
            "kafka-2",
            "kafka-3",
            "schema-registry",
            "topics",
            "latentstream-1",
            "latentstream-2"),
        compose.keySet());

    Map<Integer, String> hostPorts = new HashMap<>();
    compose.forEach(
        (name, service) ->
            ports(service)
                .forEach(
                    (host, container) -> {
                      String other = hostPorts.put(host, name);
                      assertTrue(other == null, "host port " + host + ": " + other + ", " + name);
                    }));

    for (String name : instances()) {
      Map<String, String> env = environment(compose.get(name));
      int httpPort = Integer.parseInt(env.get("LATENTSTREAM_HTTP_PORT"));
      assertTrue(
          ports(compose.get(name)).containsValue(httpPort),
          name + " publishes its HTTP port " + httpPort + " (health, sessions, console)");
    }
    Map<String, String> registry = environment(compose.get("schema-registry"));
    Matcher listener =
        Pattern.compile("http://[^:]+:(\\d+)").matcher(registry.get("SCHEMA_REGISTRY_LISTENERS"));
    assertTrue(listener.matches());
    int registryPort = Integer.parseInt(listener.group(1));
    assertTrue(ports(compose.get("schema-registry")).containsValue(registryPort));
    for (String name : instances()) {
      assertEquals(
          "http://schema-registry:" + registryPort,
          environment(compose.get(name)).get("LATENTSTREAM_SCHEMA_REGISTRY_URL"));
    }
  }

  @Test
  void serviceContainersSetOnlyConfigurationKeysOfTheService() throws IOException {
    // The check itself must be able to say no, and yes to Micronaut's mapping.
    assertFalse(configurationKeys.accepts("LATENTSTREAM_NO_SUCH_SETTING"));
    assertFalse(configurationKeys.accepts("KAFKA_BOOTSTRAP_SERVER"));
    assertFalse(configurationKeys.accepts("KAFKA_STREAMS_DEFAULT_NUM_STREAM_THREADS"));
    assertTrue(configurationKeys.accepts("LATENTSTREAM_MAX_RUNNING"));

    Map<String, Map<String, Object>> containers = new TreeMap<>();
    instances().forEach(name -> containers.put(name, compose.get(name)));
    gpuOverlay.forEach((name, service) -> containers.put(name + " (gpu overlay)", service));
    assertEquals(4, containers.size());
    containers.forEach(
        (name, service) -> {
          for (String variable : environment(service).keySet()) {
            assertTrue(
                configurationKeys.accepts(variable),
                name + " sets " + variable + ", which is no configuration key of the service");
          }
        });

    Matcher env = Pattern.compile("(?m)^ENV\\s+((?:.*\\\\\\n)*.*)$").matcher(dockerfile);
    int imageVariables = 0;
    while (env.find()) {
      Matcher assignment = Pattern.compile("([A-Z0-9_]+)=").matcher(env.group(1));
      while (assignment.find()) {
        assertTrue(
            configurationKeys.accepts(assignment.group(1)),
            "the Dockerfile sets " + assignment.group(1) + ", no configuration key");
        imageVariables++;
      }
    }
    assertTrue(imageVariables > 0, "the Dockerfile's ENV lines were not found");
  }

  @Test
  void instancesFormOneGroupWithStandbysOnReplicatedState() {
    List<Map<String, String>> envs =
        instances().stream().map(name -> environment(compose.get(name))).toList();
    assertEquals(2, envs.size());
    assertEquals(
        1,
        envs.stream().map(e -> e.get("LATENTSTREAM_APPLICATION_ID")).distinct().count(),
        "one application id: one consumer group sharing the partitions");
    for (Map<String, String> env : envs) {
      assertEquals("1", env.get("LATENTSTREAM_STANDBY_REPLICAS"));
      int replication = Integer.parseInt(env.get("LATENTSTREAM_REPLICATION_FACTOR"));
      assertTrue(replication >= 1 && replication <= brokers().size());
      assertEquals(bootstrapServers(), env.get("LATENTSTREAM_BOOTSTRAP_SERVERS"));
    }
    for (String name : instances()) {
      assertTrue(
          volumes(compose.get(name)).stream()
              .anyMatch(v -> v.endsWith(":" + parentOf(stateDir(name)))),
          name + " keeps its state directory on a volume");
    }
  }

  @Test
  void brokersFormOneQuorum() {
    Map<String, Map<String, String>> brokers = brokers();
    assertEquals(3, brokers.size());
    assertEquals(
        1,
        brokers.values().stream().map(e -> e.get("CLUSTER_ID")).distinct().count(),
        "one cluster id");
    List<String> voterLists =
        brokers.values().stream().map(e -> e.get("KAFKA_CONTROLLER_QUORUM_VOTERS")).toList();
    assertEquals(1, voterLists.stream().distinct().count(), "every node knows the same voters");

    Map<Integer, String> nodeIds = new TreeMap<>();
    brokers.forEach(
        (name, env) -> {
          assertEquals(
              Set.of("broker", "controller"), Set.of(env.get("KAFKA_PROCESS_ROLES").split(",")));
          String other = nodeIds.put(Integer.parseInt(env.get("KAFKA_NODE_ID")), name);
          assertTrue(other == null, "node id shared by " + other + " and " + name);
        });

    Map<Integer, String> voters = new TreeMap<>();
    Matcher voter = VOTER.matcher(voterLists.get(0));
    while (voter.find()) {
      int id = Integer.parseInt(voter.group(1));
      voters.put(id, voter.group(2));
      String name = nodeIds.get(id);
      assertNotNull(name, "voter " + id + " is no node of the stack");
      assertTrue(
          voter.group(2).equals(name) || voter.group(2).equals(compose.get(name).get("hostname")),
          "voter " + id + " at " + voter.group(2) + " is not " + name);
      Map<String, String> env = brokers.get(name);
      Map<String, Integer> listeners = listenerPorts(env.get("KAFKA_LISTENERS"));
      assertEquals(
          listeners.get(env.get("KAFKA_CONTROLLER_LISTENER_NAMES")),
          Integer.valueOf(voter.group(3)),
          "voter " + id + " port is " + name + "'s controller listener");
    }
    assertEquals(nodeIds.keySet(), voters.keySet(), "every node votes, and only they");

    brokers.forEach(
        (name, env) -> {
          Map<String, Integer> listeners = listenerPorts(env.get("KAFKA_LISTENERS"));
          Set<String> mapped =
              Set.of(env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP").split(",")).stream()
                  .map(entry -> entry.split(":")[0])
                  .collect(Collectors.toSet());
          assertEquals(listeners.keySet(), mapped, name + ": a protocol for every listener");
          assertTrue(listeners.containsKey(env.get("KAFKA_INTER_BROKER_LISTENER_NAME")));
          // Advertised host listeners are reachable: the published host port is the advertised
          // one and lands on the listener's port in the container.
          Map<Integer, Integer> published = ports(compose.get(name));
          Matcher advertised = LISTENER.matcher(env.get("KAFKA_ADVERTISED_LISTENERS"));
          int count = 0;
          while (advertised.find()) {
            String listener = advertised.group(1);
            int port = Integer.parseInt(advertised.group(3));
            assertTrue(listeners.containsKey(listener), name + " advertises unknown " + listener);
            if (advertised.group(2).equals("localhost")) {
              assertEquals(listeners.get(listener), published.get(port), name + " " + listener);
            } else {
              assertEquals(name, advertised.group(2));
              assertEquals(listeners.get(listener), Integer.valueOf(port));
            }
            count++;
          }
          assertTrue(count > 0);

          int replication = Integer.parseInt(env.get("KAFKA_DEFAULT_REPLICATION_FACTOR"));
          int minIsr = Integer.parseInt(env.get("KAFKA_MIN_INSYNC_REPLICAS"));
          assertEquals(3, replication);
          assertEquals(2, minIsr);
          assertEquals(
              replication, Integer.parseInt(env.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR")));
          assertEquals(
              replication,
              Integer.parseInt(env.get("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR")));
          assertEquals(minIsr, Integer.parseInt(env.get("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR")));
        });
  }

  @Test
  void theImageRunsTheServiceFromTheShadedJar() throws Exception {
    Matcher entrypoint = Pattern.compile("(?m)^ENTRYPOINT\\s+(\\[.*])\\s*$").matcher(dockerfile);
    String last = null;
    while (entrypoint.find()) {
      last = entrypoint.group(1);
    }
    assertNotNull(last, "the Dockerfile has an exec-form ENTRYPOINT");
    List<String> args = new ObjectMapper().readValue(last, new TypeReference<List<String>>() {});
    assertEquals("java", args.get(0));
    assertTrue(
        String.join(" ", args).contains("--add-modules jdk.incubator.vector"),
        "the engine's kernels need the Vector API module");
    int cp = args.indexOf("-cp");
    assertTrue(cp > 0, "the entrypoint names its class path");
    String mainClass = args.get(cp + 2);
    assertEquals(args.size() - 1, cp + 2, "the main class is the last argument");
    Method main = Class.forName(mainClass).getMethod("main", String[].class);
    assertTrue(Modifier.isStatic(main.getModifiers()), mainClass + ".main is static");

    // The class path is the jar the build stage copies in, which is ops' shaded jar.
    String jar = args.get(cp + 1);
    String fileName = Path.of(jar).getFileName().toString();
    String pom = Files.readString(root.resolve("ops/pom.xml"));
    assertTrue(
        pom.contains("<finalName>" + fileName.replace(".jar", "") + "</finalName>"),
        "ops/pom.xml shades " + fileName);
    assertTrue(dockerfile.contains("ops/target/" + fileName), "the build stage takes " + fileName);
    Matcher workdir = Pattern.compile("(?m)^WORKDIR\\s+(\\S+)$").matcher(dockerfile);
    String lastWorkdir = null;
    while (workdir.find()) {
      lastWorkdir = workdir.group(1);
    }
    Matcher copy =
        Pattern.compile("(?m)^COPY --from=build \\S+ (\\S+" + Pattern.quote(fileName) + ")$")
            .matcher(dockerfile);
    assertTrue(copy.find(), "the jar is copied from the build stage");
    assertEquals(Path.of(jar), Path.of(lastWorkdir).resolve(copy.group(1)));

    assertTrue(
        Pattern.compile("(?m)^HEALTHCHECK[^\\n]*\\\\\\n\\s*CMD .*/health")
            .matcher(dockerfile)
            .find(),
        "a HEALTHCHECK on /health");
    assertTrue(Pattern.compile("(?m)^USER latentstream$").matcher(dockerfile).find(), "non-root");
  }

  @Test
  void theGpuOverlayReservesADeviceAndBuildsAnExistingVariant() {
    assertEquals(new TreeSet<>(instances()), new TreeSet<>(gpuOverlay.keySet()));
    for (Map<String, Object> service : gpuOverlay.values()) {
      Map<String, Object> build = map(service.get("build"));
      String variant = String.valueOf(map(build.get("args")).get("VARIANT"));
      assertTrue(
          Pattern.compile("(?m)^FROM \\S+ AS " + Pattern.quote(variant) + "-base$")
              .matcher(dockerfile)
              .find(),
          "the Dockerfile has a " + variant + "-base stage");
      assertTrue(String.valueOf(service.get("image")).startsWith(SERVICE_IMAGE_PREFIX));
      List<Object> devices =
          list(
              map(map(map(service.get("deploy")).get("resources")).get("reservations"))
                  .get("devices"));
      assertEquals(1, devices.size());
      assertTrue(list(map(devices.get(0)).get("capabilities")).contains("gpu"));
    }
  }

  @Test
  void theTopicsInitIsAValidCommandLine() throws IOException {
    Map<String, Object> topics = compose.get("topics");
    assertEquals(List.of("latentstream"), list(topics.get("entrypoint")));
    assertTrue(Files.isExecutable(root.resolve("docker/latentstream")));
    assertTrue(dockerfile.contains("docker/latentstream /usr/local/bin/latentstream"));
    String[] args =
        list(topics.get("command")).stream().map(String::valueOf).toArray(String[]::new);
    ParseResult parsed = LatentstreamCli.commandLine().parseArgs(args);
    assertTrue(parsed.hasSubcommand());
    CommandLine sub = parsed.subcommand().commandSpec().commandLine();
    assertTrue(sub.getCommand() instanceof TopicsCommand, "the init runs `topics`");
    ParseResult options = parsed.subcommand();
    assertEquals(bootstrapServers(), options.matchedOptionValue("--bootstrap-servers", ""));
    int partitions = options.matchedOptionValue("--partitions", 0);
    assertTrue(partitions >= instances().size(), "every instance can own a partition");
    short replication = options.matchedOptionValue("--replication-factor", (short) 0);
    assertEquals(brokers().size(), replication);
  }

  // The compose model.

  private static Map<String, Map<String, Object>> services(Path file) throws IOException {
    Map<String, Object> document = new Yaml().load(Files.readString(file));
    Map<String, Map<String, Object>> services = new LinkedHashMap<>();
    map(document.get("services")).forEach((name, service) -> services.put(name, map(service)));
    return services;
  }

  private static List<String> instances() {
    return compose.entrySet().stream()
        .filter(e -> String.valueOf(e.getValue().get("image")).startsWith(SERVICE_IMAGE_PREFIX))
        .filter(e -> !e.getValue().containsKey("command"))
        .map(Map.Entry::getKey)
        .sorted()
        .toList();
  }

  private static Map<String, Map<String, String>> brokers() {
    Map<String, Map<String, String>> brokers = new TreeMap<>();
    compose.forEach(
        (name, service) -> {
          if (String.valueOf(service.get("image")).startsWith("apache/kafka:")) {
            brokers.put(name, environment(service));
          }
        });
    return brokers;
  }

  /** The in-network bootstrap servers: every broker at its inter-broker listener. */
  private static String bootstrapServers() {
    return brokers().entrySet().stream()
        .map(
            e ->
                e.getKey()
                    + ":"
                    + listenerPorts(e.getValue().get("KAFKA_LISTENERS"))
                        .get(e.getValue().get("KAFKA_INTER_BROKER_LISTENER_NAME")))
        .collect(Collectors.joining(","));
  }

  private static String stateDir(String instance) {
    return environment(compose.get(instance)).get("LATENTSTREAM_STATE_DIR");
  }

  private static String parentOf(String path) {
    return Path.of(path).getParent().toString();
  }

  private static Map<String, String> environment(Map<String, Object> service) {
    Map<String, String> env = new TreeMap<>();
    Object value = service.get("environment");
    if (value instanceof Map<?, ?> m) {
      m.forEach((k, v) -> env.put(String.valueOf(k), String.valueOf(v)));
    } else if (value instanceof List<?> l) {
      l.forEach(
          entry -> {
            String[] kv = String.valueOf(entry).split("=", 2);
            env.put(kv[0], kv.length > 1 ? kv[1] : "");
          });
    }
    return env;
  }

  /** Published ports, host port to container port ("HOST:CONTAINER" short syntax). */
  private static Map<Integer, Integer> ports(Map<String, Object> service) {
    Map<Integer, Integer> ports = new TreeMap<>();
    for (Object port : list(service.getOrDefault("ports", List.of()))) {
      String[] parts = String.valueOf(port).split(":");
      assertEquals(2, parts.length, "port " + port + " is HOST:CONTAINER");
      ports.put(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
    }
    return ports;
  }

  private static List<String> volumes(Map<String, Object> service) {
    return list(service.getOrDefault("volumes", List.of())).stream().map(String::valueOf).toList();
  }

  private static Map<String, Integer> listenerPorts(String listeners) {
    Map<String, Integer> ports = new HashMap<>();
    Matcher m = LISTENER.matcher(listeners);
    while (m.find()) {
      ports.put(m.group(1), Integer.parseInt(m.group(3)));
    }
    return ports;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object value) {
    if (!(value instanceof Map<?, ?>)) {
      fail("expected a mapping, got " + value);
    }
    return (Map<String, Object>) value;
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Object value) {
    if (!(value instanceof List<?>)) {
      fail("expected a list, got " + value);
    }
    return (List<Object>) value;
  }

  /**
   * The environment variables the service reads: the placeholders of application.yml ({@code
   * ${NAME:default}}), and the names Micronaut maps onto its {@code latentstream.*} keys
   * (LATENTSTREAM_BACKEND for {@code latentstream.backend}). Not {@code kafka.*} keys without a
   * placeholder: Micronaut expands a variable into every dotted and hyphenated spelling, and all of
   * them would reach the Kafka clients.
   */
  private record ConfigurationKeys(Set<String> placeholders, Set<String> keys) {
    static ConfigurationKeys of(Path applicationYml) throws IOException {
      String text = Files.readString(applicationYml);
      Set<String> placeholders = new HashSet<>();
      Matcher m = PLACEHOLDER.matcher(text);
      while (m.find()) {
        placeholders.add(m.group(1));
      }
      assertTrue(placeholders.contains("LATENTSTREAM_BOOTSTRAP_SERVERS"), "placeholders parsed");
      Set<String> keys = new HashSet<>();
      flatten("", new Yaml().load(text), keys);
      assertTrue(keys.contains("latentstream.model-path"), "keys parsed");
      return new ConfigurationKeys(placeholders, keys);
    }

    boolean accepts(String variable) {
      if (placeholders.contains(variable)) {
        return true;
      }
      List<String> candidates =
          new ArrayList<>(
              EnvironmentProperties.empty().findPropertyNamesForEnvironmentVariable(variable));
      return candidates.stream().filter(key -> !key.startsWith("kafka.")).anyMatch(keys::contains);
    }

    private static void flatten(String prefix, Object node, Set<String> keys) {
      if (node instanceof Map<?, ?> m) {
        m.forEach(
            (k, v) -> flatten(prefix.isEmpty() ? String.valueOf(k) : prefix + "." + k, v, keys));
      } else {
        keys.add(prefix);
      }
    }
  }
}
