package io.latentstream.registry.embedded;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry's log in a compacted, single-partition Kafka topic (one partition keeps a total
 * order of registrations), replicated as far as the cluster allows. Each write is a transaction
 * acknowledged by all in-sync replicas; the transactional id is the topic's, so starting a second
 * registry on the same topic fences the first (its writes then fail) instead of letting two writers
 * hand out the same ids.
 */
final class KafkaSchemaStorage implements SchemaStorage {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaSchemaStorage.class);

  private final EmbeddedRegistryConfig config;
  private final TopicPartition partition;
  private static final String FENCED =
      "another registry instance took over this schemas topic; this one no longer writes";

  private KafkaProducer<byte[], byte[]> producer;
  private boolean fenced;

  KafkaSchemaStorage(EmbeddedRegistryConfig config) {
    this.config = config;
    this.partition = new TopicPartition(config.schemasTopic(), 0);
  }

  @Override
  public List<SchemasTopicFormat.Entry> open() {
    if (fenced) {
      throw new TakenOver(FENCED, null);
    }
    ensureTopic();
    Map<String, Object> props = clientProperties();
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    // One transactional id per schemas topic: a newer registry instance fences the older one, so
    // the topic never has two writers handing out the same ids.
    props.put(
        ProducerConfig.TRANSACTIONAL_ID_CONFIG, "latentstream-registry-" + config.schemasTopic());
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, config.kafkaTimeout().toMillis());
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) config.kafkaTimeout().toMillis());
    props.put(
        ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG,
        (int) Math.min(config.kafkaTimeout().toMillis(), 30_000));
    props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "latentstream-registry");
    producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
    // Fence first, then replay: whatever an older instance committed before the fence is read.
    producer.initTransactions();
    return replay();
  }

  @Override
  public void append(SchemasTopicFormat.Entry entry) {
    if (fenced) {
      throw new TakenOver(FENCED, null);
    }
    try {
      producer.beginTransaction();
      producer.send(
          new ProducerRecord<>(
              config.schemasTopic(),
              0,
              SchemasTopicFormat.key(entry),
              SchemasTopicFormat.value(entry)));
      producer.commitTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      fenced = true;
      LOG.error("{}: {}", FENCED, e.toString());
      throw new TakenOver(FENCED, e);
    } catch (KafkaException e) {
      // Aborting fails where the producer cannot go on (a commit that timed out cannot be aborted,
      // and the failed attempt leaves the producer in a fatal state); the registry reopens us then.
      try {
        producer.abortTransaction();
      } catch (RuntimeException abortFailed) {
        e.addSuppressed(abortFailed);
      }
      throw new IllegalStateException("cannot write to " + config.schemasTopic() + ": " + e, e);
    }
  }

  @Override
  public String describe() {
    return "topic " + config.schemasTopic();
  }

  @Override
  public void close() {
    if (producer != null) {
      producer.close(Duration.ofSeconds(5));
      producer = null;
    }
  }

  private Map<String, Object> clientProperties() {
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    return props;
  }

  private void ensureTopic() {
    try (Admin admin = Admin.create(clientProperties())) {
      long timeout = config.kafkaTimeout().toMillis();
      int brokers = admin.describeCluster().nodes().get(timeout, TimeUnit.MILLISECONDS).size();
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

  /** Reads the topic from the beginning to its current end. */
  private List<SchemasTopicFormat.Entry> replay() {
    Map<String, Object> props = clientProperties();
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, "latentstream-registry-replay");
    List<SchemasTopicFormat.Entry> entries = new ArrayList<>();
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
          SchemasTopicFormat.parse(record.key(), record.value()).ifPresent(entries::add);
          records++;
        }
      }
      LOG.info("Replayed {} records of {}", records, config.schemasTopic());
    }
    return entries;
  }
}
