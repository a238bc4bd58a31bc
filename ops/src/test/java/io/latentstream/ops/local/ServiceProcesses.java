package io.latentstream.ops.local;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.topology.Topics;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.common.TopicPartition;

/**
 * Test support: service instances of one deployment as child JVMs ({@code latentstream serve} on
 * this test's classpath) against a local cluster and registry, each logging to {@code <name>.log}
 * in a directory; and what the consumer group assigns to them.
 */
final class ServiceProcesses implements AutoCloseable {
  private static final Pattern RESUMED =
      Pattern.compile("resuming request (\\S+) after (\\d+) forwarded tokens");

  private final Path directory;
  private final String bootstrapServers;
  private final String registryUrl;
  private final Topics topics;
  private final Path model;
  private final String applicationId;
  private final Map<String, Process> processes = new LinkedHashMap<>();

  ServiceProcesses(
      Path directory,
      String bootstrapServers,
      String registryUrl,
      Topics topics,
      Path model,
      String applicationId) {
    this.directory = directory;
    this.bootstrapServers = bootstrapServers;
    this.registryUrl = registryUrl;
    this.topics = topics;
    this.model = model;
    this.applicationId = applicationId;
  }

  /**
   * Starts instance {@code name} ({@code kafka.streams.default.client.id=name}, its own state
   * directory) with these JVM options and service properties ({@code -p key=value}).
   */
  Process start(String name, List<String> jvmOptions, Map<String, String> properties)
      throws IOException {
    return start(name, jvmOptions, properties, Map.of());
  }

  /**
   * As {@link #start(String, List, Map)}, with these variables added to the instance's environment
   * (how a deployment hands it secrets and {@code MICRONAUT_CONFIG_FILES}).
   */
  Process start(
      String name,
      List<String> jvmOptions,
      Map<String, String> properties,
      Map<String, String> environment)
      throws IOException {
    List<String> arguments =
        new ArrayList<>(
            List.of(
                "serve",
                "--bootstrap-servers",
                bootstrapServers,
                "--schema-registry-url",
                registryUrl,
                "--topic-prefix",
                topics.prefix(),
                "--model",
                model.toString(),
                "--application-id",
                applicationId,
                "--state-dir",
                directory.resolve(name).toString(),
                "--http-port",
                "0",
                "-p",
                "kafka.streams.default.client.id=" + name,
                "-p",
                "latentstream.http-credentials=" + HTTP_CREDENTIALS));
    properties.forEach((key, value) -> arguments.addAll(List.of("-p", key + "=" + value)));
    Process process = command(directory.resolve(name + ".log"), jvmOptions, arguments, environment);
    processes.put(name, process);
    return process;
  }

  /**
   * Starts {@code latentstream <arguments>} in a child JVM on this test's classpath, with these
   * variables added to its environment, its output (stdout and stderr) going to {@code log}.
   */
  static Process command(
      Path log, List<String> jvmOptions, List<String> arguments, Map<String, String> environment)
      throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of("--add-modules", "jdk.incubator.vector", "-Xmx768m"));
    command.addAll(jvmOptions);
    command.addAll(
        List.of(
            "-Dorg.slf4j.simpleLogger.log.io.latentstream=info",
            "-cp",
            System.getProperty("java.class.path"),
            "io.latentstream.ops.LatentstreamCli"));
    command.addAll(arguments);
    ProcessBuilder builder =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().putAll(environment);
    return builder.start();
  }

  /** Waits until instance {@code name} reports Kafka Streams running; fails if it exits. */
  void awaitRunning(String name) throws Exception {
    Process process = processes.get(name);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!isRunning(name)) {
      assertTrue(process.isAlive(), name + " exited:\n" + log(name));
      assertTrue(System.nanoTime() < deadline, name + " did not start:\n" + log(name));
      Thread.sleep(200);
    }
  }

  /** Whether instance {@code name} has printed that it runs. */
  boolean isRunning(String name) throws IOException {
    return log(name).contains("running " + applicationId + " on ");
  }

  /** Stops these instances gracefully (SIGTERM to each at once) and waits for them to exit. */
  void stop(String... names) throws Exception {
    for (String name : names) {
      processes.get(name).destroy();
    }
    for (String name : names) {
      assertTrue(
          processes.get(name).waitFor(60, TimeUnit.SECONDS),
          name + " did not stop on SIGTERM:\n" + log(name));
    }
  }

  /** The output (stdout and stderr) of instance {@code name} so far. */
  String log(String name) throws IOException {
    Path file = directory.resolve(name + ".log");
    return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
  }

  /** How many generations instance {@code name} has started so far (its "generating:" lines). */
  int generationsStarted(String name) throws IOException {
    Matcher m = Pattern.compile("GenerationProcessor - generating: ").matcher(log(name));
    int count = 0;
    while (m.find()) {
      count++;
    }
    return count;
  }

  /**
   * How many tokens had been forwarded of each request the log says was resumed ("resuming request"
   * lines), by request id (the last resume of each).
   */
  static Map<String, Integer> resumed(String log) {
    Map<String, Integer> after = new LinkedHashMap<>();
    Matcher m = RESUMED.matcher(log);
    while (m.find()) {
      after.put(m.group(1), Integer.parseInt(m.group(2)));
    }
    return after;
  }

  /**
   * The partitions of {@code prompts} each member of the group holds, by instance name (the client
   * id's prefix up to {@code -StreamThread}); members without a name of ours are left out.
   */
  Map<String, Set<Integer>> assignment(Admin admin) throws Exception {
    var group =
        admin
            .describeConsumerGroups(List.of(applicationId))
            .all()
            .get(10, TimeUnit.SECONDS)
            .get(applicationId);
    Map<String, Set<Integer>> owned = new HashMap<>();
    for (MemberDescription member : group.members()) {
      String name =
          processes.keySet().stream()
              .filter(n -> member.clientId().startsWith(n + "-"))
              .findFirst()
              .orElse(member.clientId());
      Set<Integer> partitions = owned.computeIfAbsent(name, n -> new TreeSet<>());
      for (TopicPartition p : member.assignment().topicPartitions()) {
        if (p.topic().equals(topics.prompts().name())) {
          partitions.add(p.partition());
        }
      }
    }
    return owned;
  }

  /**
   * The value of counter {@code latentstream.session.turns{cache=hit}} of a running instance:
   * session turns that loaded a cached prefix. Read from its Prometheus endpoint.
   */
  double sessionCacheHits(String name) throws Exception {
    Matcher url = Pattern.compile("running \\S+ on (\\S+)").matcher(log(name));
    assertTrue(url.find(), name + " has not printed its URL");
    String text =
        HttpClient.newHttpClient()
            .send(
                authenticated(URI.create(url.group(1) + "/prometheus")).build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    Matcher hits =
        Pattern.compile(
                "(?m)^latentstream_session_turns_total\\{[^}]*cache=\"hit\"[^}]*\\}\\s+(\\S+)$")
            .matcher(text);
    return hits.find() ? Double.parseDouble(hits.group(1)) : 0;
  }

  /** The HTTP credentials every instance started here accepts (user:password). */
  static final String HTTP_CREDENTIALS = "operator:test-" + Long.toHexString(System.nanoTime());

  /** A request to an instance with {@link #HTTP_CREDENTIALS} (HTTP basic). */
  static HttpRequest.Builder authenticated(URI uri) {
    return HttpRequest.newBuilder(uri)
        .header(
            "Authorization",
            "Basic "
                + java.util.Base64.getEncoder()
                    .encodeToString(
                        HTTP_CREDENTIALS.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  /** Kills every instance still running (SIGKILL). */
  @Override
  public void close() throws InterruptedException {
    for (Process process : processes.values()) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
