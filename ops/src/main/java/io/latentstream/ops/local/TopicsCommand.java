package io.latentstream.ops.local;

import io.latentstream.topology.Topics;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream topics}: creates the pipeline's topics. */
@Command(
    name = "topics",
    mixinStandardHelpOptions = true,
    description = {
      "Creates the pipeline's topics under a prefix; existing ones are left as they are.",
      "They are prompts, tokens, completions, generation-errors (each tenant's own with --tenant:",
      "<prefix><tenant>.prompts, ...), and the service's own request-claims and",
      "request-verdicts (as many partitions as prompts). State-store changelogs",
      "(the session cache, compacted) are created by Kafka Streams itself; the registry",
      "creates its _schemas topic."
    })
public final class TopicsCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin KafkaClientOptions kafka;

  @Option(names = "--prefix", defaultValue = "", description = "Topic name prefix, e.g. team-a.")
  String prefix;

  @Option(
      names = "--tenant",
      split = ",",
      description =
          "A tenant with event topics of its own (repeatable or comma-separated), as the"
              + " service's latentstream.tenants lists them.")
  List<String> tenants = List.of();

  @Option(
      names = "--partitions",
      defaultValue = "6",
      description = "Partitions per topic (default ${DEFAULT-VALUE}): the most service instances.")
  int partitions;

  @Option(
      names = "--replication-factor",
      defaultValue = "0",
      description = "Replicas per partition; 0 takes min(3, brokers in the cluster).")
  short replication;

  @Override
  public Integer call() throws Exception {
    var out = spec.commandLine().getOut();
    try (Admin admin = Admin.create(kafka.adminProperties())) {
      short replicas = replication;
      if (replicas <= 0) {
        int brokers = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size();
        replicas = (short) Math.min(3, brokers);
      }
      List<NewTopic> topics = Topics.newTopics(prefix, tenants, partitions, replicas);
      var results = admin.createTopics(topics).values();
      int failures = 0;
      for (NewTopic topic : topics) {
        try {
          results.get(topic.name()).get(30, TimeUnit.SECONDS);
          out.printf(
              "created %s (%d partitions, replication %d)%n", topic.name(), partitions, replicas);
        } catch (ExecutionException e) {
          if (e.getCause() instanceof TopicExistsException) {
            out.printf("exists  %s%n", topic.name());
          } else {
            spec.commandLine().getErr().printf("failed  %s: %s%n", topic.name(), e.getCause());
            failures++;
          }
        }
      }
      out.flush();
      return failures == 0 ? 0 : 1;
    }
  }
}
