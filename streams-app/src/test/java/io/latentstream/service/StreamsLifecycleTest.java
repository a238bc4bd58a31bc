package io.latentstream.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.testing.SharedKafkaCluster;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The health the probes report, on a real broker: ready once RUNNING; a stream thread that fails is
 * replaced and readiness drops meanwhile; a failure that keeps coming back (a processor that fails
 * the task on every attempt) shuts the client down after three, and liveness reports DOWN, where
 * before the instance went on replacing threads and answering UP.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class StreamsLifecycleTest {
  @Test
  void repeatedThreadFailuresShutTheClientDownAndLivenessSaysSo() throws Exception {
    String input = "lifecycle-test.in";
    try (Admin admin =
        Admin.create(Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()))) {
      admin
          .createTopics(List.of(new NewTopic(input, 1, (short) 1)))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
    Topology topology = new Topology();
    topology.addSource("in", input);
    topology.addProcessor(
        "fails",
        () ->
            new Processor<byte[], byte[], Void, Void>() {
              @Override
              public void process(Record<byte[], byte[]> record) {
                throw new KafkaException("a planted failure of the task");
              }
            },
        "in");
    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, "lifecycle-test");
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers());
    config.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("lifecycle").toString());
    config.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    // A replacement thread joins the group once the failed thread's member has left it: the
    // service's session timeout, not Kafka's 45 s default.
    config.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 6000);
    config.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1000);
    StreamsLifecycle lifecycle = new StreamsLifecycle();
    try (KafkaStreams streams = new KafkaStreams(topology, config)) {
      assertFalse(lifecycle.status().ready(), "not ready before Kafka Streams starts");
      lifecycle.attach(streams);
      streams.start();
      await(lifecycle, StreamsLifecycle.Status::ready, "ready once running");

      try (KafkaProducer<String, String> producer =
          new KafkaProducer<>(
              Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()),
              new StringSerializer(),
              new StringSerializer())) {
        producer.send(new ProducerRecord<>(input, "k", "v")).get();
      }
      StreamsLifecycle.Status failed =
          await(lifecycle, s -> !s.ready(), "not ready after a failure");
      assertTrue(failed.reason().contains("failed"), failed.reason());
      StreamsLifecycle.Status dead =
          await(
              lifecycle,
              s -> !s.live() && s.details().get("state").toString().contains("ERROR"),
              "DOWN after three failures");
      assertEquals(3, dead.details().get("threadFailures"), dead.toString());
      assertFalse(dead.ready());
      streams.close(Duration.ofSeconds(10));
    }
  }

  private static StreamsLifecycle.Status await(
      StreamsLifecycle lifecycle, Predicate<StreamsLifecycle.Status> condition, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      StreamsLifecycle.Status s = lifecycle.status();
      if (condition.test(s)) {
        return s;
      }
      assertTrue(System.nanoTime() < deadline, what + ": " + s);
      Thread.sleep(100);
    }
  }
}
