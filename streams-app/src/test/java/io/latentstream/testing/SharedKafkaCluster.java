package io.latentstream.testing;

import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.topology.Topics;
import java.io.IOException;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One real single-node KRaft cluster (broker and controller in one in-process node) shared by every
 * integration test class of the test JVM: starting one costs seconds on a 2-core machine, so it is
 * started once, on first use, and closed when the test run ends. Classes isolate themselves by
 * topic names, not by clusters.
 */
public final class SharedKafkaCluster implements BeforeAllCallback {
  private static KafkaClusterTestKit cluster;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    synchronized (SharedKafkaCluster.class) {
      if (cluster == null) {
        cluster = start();
        KafkaClusterTestKit started = cluster;
        context
            .getRoot()
            .getStore(ExtensionContext.Namespace.GLOBAL)
            .put(
                SharedKafkaCluster.class.getName(),
                (ExtensionContext.Store.CloseableResource)
                    () -> {
                      synchronized (SharedKafkaCluster.class) {
                        cluster = null;
                      }
                      started.close();
                    });
      }
    }
  }

  /**
   * Starts the shared cluster if needed, for code that runs before JUnit extensions do (a Micronaut
   * test's property provider); it is then closed when the test JVM exits.
   */
  public static synchronized String ensureStarted() throws Exception {
    if (cluster == null) {
      KafkaClusterTestKit started = start();
      cluster = started;
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    try {
                      started.close();
                    } catch (Exception e) {
                      // the JVM is exiting; nothing is left to clean up after
                    }
                  }));
    }
    return cluster.bootstrapServers();
  }

  /** The cluster's bootstrap servers; only valid inside a class extended with this extension. */
  public static synchronized String bootstrapServers() {
    if (cluster == null) {
      throw new IllegalStateException(
          "annotate the test class with @ExtendWith(SharedKafkaCluster.class)");
    }
    return cluster.bootstrapServers();
  }

  /** A started schema registry on the cluster, its schemas in a topic of the test's own. */
  public static EmbeddedSchemaRegistry registry(String schemasTopic) throws IOException {
    return new EmbeddedSchemaRegistry(
            EmbeddedRegistryConfig.of(bootstrapServers()).withSchemasTopic(schemasTopic))
        .start();
  }

  /** Creates the topics and waits until the cluster has them. */
  public static void createTopics(Collection<NewTopic> topics) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrapServers()))) {
      admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
    }
  }

  /**
   * Publishes prompts to the prompts topic as a client would: keyed by session, or by request id
   * for one-off requests (so a session's turns share a partition).
   */
  public static void publish(Topics topics, PromptRequest... prompts) {
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()),
            new StringSerializer(),
            topics.prompts().valueSerde().serializer())) {
      for (PromptRequest prompt : prompts) {
        String key = prompt.getSessionId() != null ? prompt.getSessionId() : prompt.getRequestId();
        producer.send(new ProducerRecord<>(topics.prompts().name(), key, prompt));
      }
    }
  }

  /**
   * A reader of what the service committed (read_committed), from the earliest offsets, in a group
   * of its own: what a downstream consumer sees.
   */
  public static <V> KafkaConsumer<String, V> committedReader(Deserializer<V> values) {
    return EventReader.committedConsumer(
        Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()), values);
  }

  private static KafkaClusterTestKit start() throws Exception {
    KafkaClusterTestKit kit =
        new KafkaClusterTestKit.Builder(
                new TestKitNodes.Builder()
                    .setCombined(true)
                    .setNumBrokerNodes(1)
                    .setNumControllerNodes(1)
                    .build())
            // A single node cannot hold the default three replicas of the internal topics.
            .setConfigProp("offsets.topic.replication.factor", "1")
            .setConfigProp("transaction.state.log.replication.factor", "1")
            .setConfigProp("transaction.state.log.min.isr", "1")
            .setConfigProp("group.initial.rebalance.delay.ms", "0")
            .build();
    kit.format();
    kit.startup();
    kit.waitForReadyBrokers();
    return kit;
  }
}
