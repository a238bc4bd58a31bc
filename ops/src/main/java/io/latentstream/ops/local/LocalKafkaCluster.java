package io.latentstream.ops.local;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Apache Kafka cluster on this machine: N KRaft nodes, each a child JVM running {@code
 * kafka.Kafka} (through {@link KafkaNodeMain}, which stops the node when this process dies) from
 * this process's classpath (Kafka from Maven Central, no Docker), each node broker and controller
 * at once, listening on loopback ports, with its data under its own directory. Child processes, not
 * in-process servers, so a test can kill one like a crashed machine and the broker's threads never
 * compete with the caller's heap.
 *
 * <p>Lifecycle: {@link #start()} formats each node's storage ({@code kafka.tools.StorageTool
 * format}, skipped when already formatted, so a data directory can be reused), launches the nodes
 * and waits until all of them are registered; {@link #stop()} asks each to shut down (SIGTERM,
 * Kafka's controlled shutdown) and kills those that do not within the stop timeout. A JVM shutdown
 * hook stops the children if the caller forgets.
 */
public final class LocalKafkaCluster implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LocalKafkaCluster.class);

  /**
   * How to run the cluster.
   *
   * @param nodes how many combined broker+controller nodes (1 for development; 3 for failover)
   * @param dataDirectory where each node keeps {@code node-<id>/}: its properties, data and log
   * @param firstBrokerPort node i listens for clients on this port + i; 0 picks free ports
   * @param extraBrokerProperties added to (and overriding) every node's properties
   * @param jvmOptions options of each node's JVM (heap)
   * @param startTimeout the most formatting and start-up may take
   * @param stopTimeout the most a controlled shutdown may take before the node is killed
   * @param scram authenticate clients with SASL/SCRAM and authorize them by ACLs; empty serves
   *     PLAINTEXT to anyone
   */
  public record Config(
      int nodes,
      Path dataDirectory,
      int firstBrokerPort,
      Map<String, String> extraBrokerProperties,
      List<String> jvmOptions,
      Duration startTimeout,
      Duration stopTimeout,
      Optional<Scram> scram) {
    public Config {
      if (nodes < 1) {
        throw new IllegalArgumentException("need at least one node, got " + nodes);
      }
      extraBrokerProperties = Map.copyOf(extraBrokerProperties);
      jvmOptions = List.copyOf(jvmOptions);
    }

    /**
     * {@code nodes} nodes under {@code dataDirectory} on free ports, 512 MiB heap each, their code
     * compiled by C1 alone. These nodes share a machine with the engine: at a few hundred requests
     * a second a broker's C2 compiler was still busy minutes after start (28-72 us of CPU per
     * generated token in bench-pipeline after 8 warm-up rounds), more than C1's slower code costs
     * its request threads (~10-25 us per token).
     */
    public static Config of(int nodes, Path dataDirectory) {
      return new Config(
          nodes,
          dataDirectory,
          0,
          Map.of(),
          List.of("-Xms128m", "-Xmx512m", "-XX:TieredStopAtLevel=1"),
          Duration.ofSeconds(90),
          Duration.ofSeconds(30),
          Optional.empty());
    }

    public Config withFirstBrokerPort(int port) {
      return new Config(
          nodes,
          dataDirectory,
          port,
          extraBrokerProperties,
          jvmOptions,
          startTimeout,
          stopTimeout,
          scram);
    }

    public Config withExtraBrokerProperties(Map<String, String> properties) {
      return new Config(
          nodes,
          dataDirectory,
          firstBrokerPort,
          properties,
          jvmOptions,
          startTimeout,
          stopTimeout,
          scram);
    }

    public Config withScram(Scram security) {
      return new Config(
          nodes,
          dataDirectory,
          firstBrokerPort,
          extraBrokerProperties,
          jvmOptions,
          startTimeout,
          stopTimeout,
          Optional.of(security));
    }
  }

  /**
   * A secured cluster: clients authenticate with SASL/SCRAM-SHA-512 (over SASL_PLAINTEXT: loopback
   * only; put TLS in front elsewhere) and the {@code StandardAuthorizer} allows only what ACLs
   * grant. The super user is the brokers' own principal between each other and the operator's: its
   * SCRAM credential is written into the storage when it is formatted (there is no one yet to
   * create it through the Admin API), and the controllers, which cannot use SCRAM because they hold
   * the credentials, authenticate it with SASL/PLAIN. Everyone else is created by the super user
   * ({@code Admin.alterUserScramCredentials}) and granted ACLs ({@code Admin.createAcls}).
   */
  public record Scram(String superUser, String superUserPassword) {
    public static final String MECHANISM = "SCRAM-SHA-512";
    private static final String SCRAM_LOGIN =
        "org.apache.kafka.common.security.scram.ScramLoginModule";
    private static final String PLAIN_LOGIN =
        "org.apache.kafka.common.security.plain.PlainLoginModule";

    public Scram {
      for (String value : List.of(superUser, superUserPassword)) {
        if (value.isEmpty() || value.contains("\"") || value.contains("\\")) {
          throw new IllegalArgumentException("SCRAM user and password must be plain JAAS values");
        }
      }
    }

    /** What a client needs to authenticate as {@code user}: pass to any Kafka client. */
    public static Map<String, Object> clientProperties(String user, String password) {
      return Map.of(
          "security.protocol",
          "SASL_PLAINTEXT",
          "sasl.mechanism",
          MECHANISM,
          "sasl.jaas.config",
          jaas(SCRAM_LOGIN, user, password, ""));
    }

    /** The super user's client settings. */
    public Map<String, Object> superUserClientProperties() {
      return clientProperties(superUser, superUserPassword);
    }

    /** A JAAS line logging in as {@code user}; {@code extra} adds options (PLAIN's user list). */
    private static String jaas(String module, String user, String password, String extra) {
      return module
          + " required username=\""
          + user
          + "\" password=\""
          + password
          + "\""
          + extra
          + ";";
    }

    /** The brokers' SASL settings: SCRAM for clients and between brokers, PLAIN to controllers. */
    Map<String, String> brokerProperties() {
      Map<String, String> props = new LinkedHashMap<>();
      props.put("sasl.enabled.mechanisms", MECHANISM);
      props.put("sasl.mechanism.inter.broker.protocol", MECHANISM);
      props.put(
          "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config",
          jaas(SCRAM_LOGIN, superUser, superUserPassword, ""));
      props.put("listener.name.controller.sasl.enabled.mechanisms", "PLAIN");
      props.put("sasl.mechanism.controller.protocol", "PLAIN");
      props.put(
          "listener.name.controller.plain.sasl.jaas.config",
          jaas(
              PLAIN_LOGIN,
              superUser,
              superUserPassword,
              " user_" + superUser + "=\"" + superUserPassword + "\""));
      props.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
      props.put("super.users", "User:" + superUser);
      props.put("allow.everyone.if.no.acl.found", "false");
      return props;
    }

    /**
     * The {@code StorageTool format} argument that creates the super user's credential (the
     * password is on that short-lived process's command line: a cluster for this machine only).
     */
    List<String> formatArguments() {
      return List.of(
          "--add-scram",
          MECHANISM + "=[name=" + superUser + ",password=" + superUserPassword + "]");
    }
  }

  /** One node: its ports and files, and its process while it runs. */
  private static final class Node {
    final int id;
    final int brokerPort;
    final int controllerPort;
    final Path directory;
    Process process;

    Node(int id, int brokerPort, int controllerPort, Path directory) {
      this.id = id;
      this.brokerPort = brokerPort;
      this.controllerPort = controllerPort;
      this.directory = directory;
    }

    Path properties() {
      return directory.resolve("server.properties");
    }

    Path log() {
      return directory.resolve("kafka.log");
    }
  }

  private final Config config;
  private final List<Node> nodes = new ArrayList<>();
  private final Thread shutdownHook = new Thread(this::stop, "local-kafka-stop");
  private boolean hookInstalled;

  public LocalKafkaCluster(Config config) {
    this.config = config;
  }

  /** Formats, launches and waits for every node; on failure stops what it started. */
  public synchronized LocalKafkaCluster start() throws IOException, InterruptedException {
    long started = System.nanoTime();
    Files.createDirectories(config.dataDirectory());
    String clusterId = clusterId(config.dataDirectory());
    nodes.clear();
    for (int id = 0; id < config.nodes(); id++) {
      int brokerPort = config.firstBrokerPort() == 0 ? freePort() : config.firstBrokerPort() + id;
      nodes.add(new Node(id, brokerPort, freePort(), config.dataDirectory().resolve("node-" + id)));
    }
    String voters =
        nodes.stream()
            .map(n -> n.id + "@127.0.0.1:" + n.controllerPort)
            .collect(Collectors.joining(","));
    if (!hookInstalled) {
      Runtime.getRuntime().addShutdownHook(shutdownHook);
      hookInstalled = true;
    }
    try {
      // Formatting is a JVM start per node: run them side by side.
      List<Process> formats = new ArrayList<>();
      for (Node node : nodes) {
        Files.createDirectories(node.directory);
        writeProperties(node, voters);
        formats.add(startFormat(node, clusterId));
      }
      for (Node node : nodes) {
        awaitFormatted(node, formats.get(node.id));
      }
      for (Node node : nodes) {
        launch(node);
      }
      awaitRegistered(config.nodes(), deadlineAfter(config.startTimeout()));
    } catch (IOException | InterruptedException | RuntimeException e) {
      stop();
      throw e;
    }
    LOG.info(
        "Kafka cluster of {} node(s) ready at {} after {} ms",
        nodes.size(),
        bootstrapServers(),
        (System.nanoTime() - started) / 1_000_000);
    return this;
  }

  /** The clients' bootstrap list, e.g. {@code 127.0.0.1:39092}. */
  public synchronized String bootstrapServers() {
    return nodes.stream().map(n -> "127.0.0.1:" + n.brokerPort).collect(Collectors.joining(","));
  }

  /** What the super user's clients need besides the bootstrap servers; empty when unsecured. */
  public Map<String, Object> superUserClientProperties() {
    return config.scram().map(Scram::superUserClientProperties).orElse(Map.of());
  }

  public int size() {
    return config.nodes();
  }

  /** Whether node {@code id}'s process is running. */
  public synchronized boolean isRunning(int id) {
    Process process = nodes.get(id).process;
    return process != null && process.isAlive();
  }

  /** The process id of node {@code id}, for tests that kill it from outside. */
  public synchronized long pid(int id) {
    return nodes.get(id).process.pid();
  }

  /** Kills node {@code id} at once (SIGKILL), like a machine that lost power. */
  public synchronized void kill(int id) throws InterruptedException {
    Process process = nodes.get(id).process;
    if (process != null) {
      process.destroyForcibly();
      process.waitFor(config.stopTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** Restarts a stopped or killed node {@code id} on its old ports and data. */
  public synchronized void restart(int id) throws IOException, InterruptedException {
    Node node = nodes.get(id);
    if (node.process != null && node.process.isAlive()) {
      throw new IllegalStateException("node " + id + " is running");
    }
    launch(node);
    long deadline = deadlineAfter(config.startTimeout());
    // The cluster may still list the dead node, so also wait for its listener itself.
    while (!listening(node.brokerPort)) {
      if (!node.process.isAlive() || System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "Kafka node " + id + " did not restart:\n" + tail(node.log()));
      }
      Thread.sleep(200);
    }
    awaitRegistered(config.nodes(), deadline);
  }

  private static boolean listening(int port) {
    try (java.net.Socket socket = new java.net.Socket()) {
      socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Controlled shutdown of every node, in reverse order; kills what does not stop in time. */
  public synchronized void stop() {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      Process process = nodes.get(i).process;
      if (process != null && process.isAlive()) {
        process.destroy();
      }
    }
    for (Node node : nodes) {
      Process process = node.process;
      if (process == null) {
        continue;
      }
      try {
        if (!process.waitFor(config.stopTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
          LOG.warn("Kafka node {} did not stop in {}; killing it", node.id, config.stopTimeout());
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      node.process = null;
    }
    if (hookInstalled && Thread.currentThread() != shutdownHook) {
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running or about to: nothing to remove
      }
      hookInstalled = false;
    }
  }

  @Override
  public void close() {
    stop();
  }

  private void writeProperties(Node node, String voters) throws IOException {
    int replicas = Math.min(3, config.nodes());
    int minIsr = Math.min(2, config.nodes());
    // The client listener is named after its protocol; the controller listener gets SASL too when
    // the clients do, or anyone reaching its port would speak for a broker.
    String listener = config.scram().isPresent() ? "SASL_PLAINTEXT" : "PLAINTEXT";
    Map<String, String> props = new LinkedHashMap<>();
    props.put("process.roles", "broker,controller");
    props.put("node.id", String.valueOf(node.id));
    props.put("controller.quorum.voters", voters);
    props.put(
        "listeners",
        listener
            + "://127.0.0.1:"
            + node.brokerPort
            + ",CONTROLLER://127.0.0.1:"
            + node.controllerPort);
    props.put("advertised.listeners", listener + "://127.0.0.1:" + node.brokerPort);
    props.put("controller.listener.names", "CONTROLLER");
    props.put("inter.broker.listener.name", listener);
    props.put(
        "listener.security.protocol.map", listener + ":" + listener + ",CONTROLLER:" + listener);
    config.scram().ifPresent(scram -> props.putAll(scram.brokerProperties()));
    props.put("log.dirs", node.directory.resolve("data").toAbsolutePath().toString());
    props.put("num.partitions", "1");
    // Internal topics replicated as far as the cluster allows (the defaults need three nodes).
    props.put("offsets.topic.replication.factor", String.valueOf(replicas));
    props.put("transaction.state.log.replication.factor", String.valueOf(replicas));
    props.put("transaction.state.log.min.isr", String.valueOf(minIsr));
    props.put("share.coordinator.state.topic.replication.factor", String.valueOf(replicas));
    props.put("share.coordinator.state.topic.min.isr", String.valueOf(minIsr));
    props.put("default.replication.factor", String.valueOf(replicas));
    // A development cluster: consumers join at once instead of waiting for more members.
    props.put("group.initial.rebalance.delay.ms", "0");
    // Loopback heartbeats do not get lost: detect a dead node in 3 s rather than 9 s, which is
    // also how long a killed node's successor waits to re-register under the same id.
    props.put("broker.heartbeat.interval.ms", "500");
    props.put("broker.session.timeout.ms", "3000");
    // A killed service instance's open transaction blocks read_committed consumers until it is
    // aborted: look for timed-out transactions every second, not every 10 s.
    props.put("transaction.abort.timed.out.transaction.cleanup.interval.ms", "1000");
    props.putAll(config.extraBrokerProperties());
    Properties properties = new Properties();
    properties.putAll(props);
    try (OutputStream out = Files.newOutputStream(node.properties())) {
      properties.store(out, "written by latentstream's LocalKafkaCluster for node " + node.id);
    }
  }

  private Process startFormat(Node node, String clusterId) throws IOException {
    List<String> arguments =
        new ArrayList<>(
            List.of(
                "format",
                "--cluster-id",
                clusterId,
                "--config",
                node.properties().toString(),
                "--ignore-formatted"));
    config.scram().ifPresent(scram -> arguments.addAll(scram.formatArguments()));
    List<String> command = javaCommand("kafka.tools.StorageTool", arguments.toArray(String[]::new));
    return new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(node.directory.resolve("format.log").toFile())
        .start();
  }

  private void awaitFormatted(Node node, Process process) throws InterruptedException {
    Path output = node.directory.resolve("format.log");
    if (!process.waitFor(config.startTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
      process.destroyForcibly();
      throw new IllegalStateException("formatting node " + node.id + " timed out");
    }
    if (process.exitValue() != 0) {
      throw new IllegalStateException("formatting node " + node.id + " failed:\n" + tail(output));
    }
  }

  private void launch(Node node) throws IOException {
    List<String> command = javaCommand(KafkaNodeMain.class.getName(), node.properties().toString());
    node.process =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(node.log().toFile()))
            .start();
    LOG.info(
        "Started Kafka node {} (pid {}) on 127.0.0.1:{}, log {}",
        node.id,
        node.process.pid(),
        node.brokerPort,
        node.log());
  }

  private List<String> javaCommand(String mainClass, String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(config.jvmOptions());
    // The node's own log file keeps the broker's INFO lines (slf4j-simple: system properties win
    // over the command line's quieter simplelogger.properties; other bindings ignore them).
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
    command.add("-Dorg.slf4j.simpleLogger.log.kafka=info");
    command.add("-Dorg.slf4j.simpleLogger.log.org.apache.kafka=info");
    command.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
    command.add("-cp");
    // The broker runs from our own classpath: kafka_2.13 is a dependency of this module.
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass);
    command.addAll(List.of(args));
    return command;
  }

  private void awaitRegistered(int expected, long deadline) throws InterruptedException {
    // Wait for the listeners first: an admin client polling a closed port logs a warning a try.
    for (Node node : nodes) {
      while (!listening(node.brokerPort)) {
        if (node.process == null || !node.process.isAlive()) {
          throw new IllegalStateException(
              "Kafka node " + node.id + " exited during start-up:\n" + tail(node.log()));
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "Kafka did not start in " + config.startTimeout() + "; see " + node.log());
        }
        Thread.sleep(100);
      }
    }
    Map<String, Object> props = new HashMap<>(superUserClientProperties());
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5_000);
    try (Admin admin = Admin.create(props)) {
      while (true) {
        for (Node node : nodes) {
          if (node.process == null || !node.process.isAlive()) {
            throw new IllegalStateException(
                "Kafka node " + node.id + " exited during start-up:\n" + tail(node.log()));
          }
        }
        try {
          int registered = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
          if (registered >= expected) {
            return;
          }
        } catch (java.util.concurrent.ExecutionException
            | java.util.concurrent.TimeoutException e) {
          // not listening yet
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "Kafka did not start in " + config.startTimeout() + "; see " + nodes.get(0).log());
        }
        Thread.sleep(200);
      }
    }
  }

  /**
   * The id the nodes are formatted with, kept beside them: a reused data directory must be started
   * under the id its storage was formatted with.
   */
  private static String clusterId(Path dataDirectory) throws IOException {
    Path file = dataDirectory.resolve("cluster.id");
    if (Files.exists(file)) {
      return Files.readString(file, StandardCharsets.UTF_8).trim();
    }
    String id = Uuid.randomUuid().toString();
    Files.writeString(file, id + "\n", StandardCharsets.UTF_8);
    return id;
  }

  private static long deadlineAfter(Duration timeout) {
    return System.nanoTime() + timeout.toNanos();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    }
  }

  /** The last lines of a node's output, to say why it failed. */
  private static String tail(Path file) {
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
