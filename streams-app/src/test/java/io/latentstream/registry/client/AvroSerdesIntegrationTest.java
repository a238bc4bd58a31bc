package io.latentstream.registry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.topology.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The serdes through a real topic and the embedded registry: what a producer writes, a consumer
 * reads back equal; records written with an older schema resolve into the current class; every kind
 * of bad record fails with its code and keeps its bytes.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AvroSerdesIntegrationTest {
  private static EmbeddedSchemaRegistry registry;
  private static SchemaRegistryClient client;
  private static Topics topics;

  @BeforeAll
  static void start() throws Exception {
    registry =
        new EmbeddedSchemaRegistry(
                EmbeddedRegistryConfig.of(SharedKafkaCluster.bootstrapServers())
                    .withSchemasTopic("_schemas-serde-test"))
            .start();
    client = new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
    topics = Topics.create("serde-test.", client);
    try (Admin admin =
        Admin.create(Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()))) {
      admin
          .createTopics(Topics.newTopics(topics.prefix(), 2, (short) 1))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
  }

  @AfterAll
  static void stop() {
    registry.stop();
  }

  static PromptRequest chatPrompt(String requestId) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setSessionId("session-1")
        .setTenant("acme")
        .setInput(
            ChatInput.newBuilder()
                .setMessages(
                    List.of(
                        new ChatMessage("system", "Be brief."),
                        new ChatMessage("user", "The jury said")))
                .build())
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(0.0)
                .setSeed(42L)
                .setMaxNewTokens(32)
                .build())
        .setCreatedAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .setMetadata(Map.of("trace", "abc"))
        .build();
  }

  @Test
  void recordsRoundTripThroughARealTopic() {
    List<PromptRequest> sent = List.of(chatPrompt("req-1"), chatPrompt("req-2"));
    String topic = topics.prompts().name();
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers()),
            topics.prompts().keySerde().serializer(),
            topics.prompts().valueSerde().serializer())) {
      for (PromptRequest prompt : sent) {
        producer.send(new ProducerRecord<>(topic, prompt.getSessionId(), prompt));
      }
      producer.send(new ProducerRecord<>(topic, "tombstone", null));
    }

    List<ConsumerRecord<String, PromptRequest>> received =
        consume(topic, topics.prompts().valueSerde().deserializer(), 3);
    assertEquals(sent, received.stream().map(ConsumerRecord::value).limit(2).toList());
    assertNull(received.get(2).value());
    // The serializer registered the schema under the topic-name strategy's subject.
    assertEquals(
        PromptRequest.getClassSchema(),
        client.latestVersion(AvroSerdes.subject(topic, false)).schema());
  }

  @Test
  void recordsWrittenWithAnOlderSchemaResolveIntoTheCurrentClass() throws IOException {
    // An older TokenEvent without the audit fields that were added with defaults.
    Schema older =
        withoutFields(TokenEvent.getClassSchema(), List.of("engine_version", "seed", "backend"));
    int olderId = client.register("older-tokens-value", older);
    GenericRecord event = new GenericData.Record(older);
    event.put("request_id", "r1");
    event.put("index", 0);
    event.put("token_id", 17);
    event.put("text_delta", "The");
    event.put("from_mtp_draft", false);
    event.put("model_id", "brown-mtp");
    event.put("weights_digest", "sha256:00");
    event.put("produced_at", 5L);

    TokenEvent read =
        topics
            .tokens()
            .valueSerde()
            .deserializer()
            .deserialize("any", frame(olderId, older, event));
    assertEquals("r1", read.getRequestId());
    assertEquals(17, read.getTokenId());
    assertEquals("", read.getEngineVersion());
    assertEquals("cpu", read.getBackend()); // events from before the field: the CPU engine's
    assertNull(read.getSeed());
    assertEquals(Instant.ofEpochMilli(5), read.getProducedAt());
  }

  @Test
  void badRecordsFailWithTheirCodeAndKeepTheirBytes() {
    Deserializer<PromptRequest> deserializer = topics.prompts().valueSerde().deserializer();
    byte[] good =
        topics.prompts().valueSerde().serializer().serialize("bad-records", chatPrompt("r"));

    byte[] wrongMagic = good.clone();
    wrongMagic[0] = 7;
    assertCode(RecordDecodingException.Code.WRONG_MAGIC_BYTE, deserializer, wrongMagic);

    byte[] unknownId = good.clone();
    unknownId[1] = 0x7f; // id 2^30 and more: never assigned
    assertCode(RecordDecodingException.Code.UNKNOWN_SCHEMA_ID, deserializer, unknownId);

    assertCode(RecordDecodingException.Code.UNDECODABLE, deserializer, new byte[] {0, 0});
    byte[] truncated = java.util.Arrays.copyOf(good, good.length - 3);
    assertCode(RecordDecodingException.Code.UNDECODABLE, deserializer, truncated);
    byte[] trailing = java.util.Arrays.copyOf(good, good.length + 1);
    assertCode(RecordDecodingException.Code.UNDECODABLE, deserializer, trailing);

    // A record of another type, framed with its own registered id: not a PromptRequest.
    byte[] otherType =
        topics
            .generationErrors()
            .valueSerde()
            .serializer()
            .serialize("bad-records-errors", error());
    assertCode(RecordDecodingException.Code.UNDECODABLE, deserializer, otherType);
  }

  @Test
  void aRegistryThatStaysDownIsReportedAsTransientNotAsBadInput() throws Exception {
    int port;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    SchemaRegistryClient unreachable =
        new SchemaRegistryClient(
            RegistryClientConfig.of("http://127.0.0.1:" + port)
                .withRetries(Duration.ofMillis(20), Duration.ofMillis(50), Duration.ofMillis(300)));
    byte[] good = topics.prompts().valueSerde().serializer().serialize("down", chatPrompt("r"));
    Deserializer<PromptRequest> deserializer =
        AvroSerdes.specific(PromptRequest.class, unreachable).deserializer();
    assertCode(RecordDecodingException.Code.REGISTRY_UNAVAILABLE, deserializer, good);
  }

  private static GenerationError error() {
    return GenerationError.newBuilder()
        .setCode(io.latentstream.schemas.ErrorCode.EMPTY_INPUT)
        .setMessage("empty")
        .setOccurredAt(Instant.EPOCH)
        .build();
  }

  private static void assertCode(
      RecordDecodingException.Code expected,
      Deserializer<PromptRequest> deserializer,
      byte[] bytes) {
    RecordDecodingException e =
        assertThrows(RecordDecodingException.class, () -> deserializer.deserialize("t", bytes));
    assertEquals(expected, e.code(), e.getMessage());
    assertSame(bytes, e.originalBytes());
  }

  private static byte[] frame(int id, Schema schema, GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
    encoder.flush();
    return out.toByteArray();
  }

  private static Schema withoutFields(Schema schema, List<String> dropped) {
    List<Schema.Field> kept = new ArrayList<>();
    for (Schema.Field field : schema.getFields()) {
      if (!dropped.contains(field.name())) {
        kept.add(new Schema.Field(field, field.schema()));
      }
    }
    return Schema.createRecord(
        schema.getName(), schema.getDoc(), schema.getNamespace(), false, kept);
  }

  private static <V> List<ConsumerRecord<String, V>> consume(
      String topic, Deserializer<V> deserializer, int count) {
    Map<String, Object> props =
        Map.of(
            ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
            SharedKafkaCluster.bootstrapServers(),
            ConsumerConfig.GROUP_ID_CONFIG,
            "serde-test-" + topic,
            ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
            "earliest");
    List<ConsumerRecord<String, V>> records = new ArrayList<>();
    try (KafkaConsumer<String, V> consumer =
        new KafkaConsumer<>(
            props, new org.apache.kafka.common.serialization.StringDeserializer(), deserializer)) {
      consumer.subscribe(List.of(topic));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (records.size() < count && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
      }
    }
    assertEquals(count, records.size(), "records consumed from " + topic);
    // Two partitions: order is per key, and all sent records share one key except the tombstone.
    records.sort(java.util.Comparator.comparing(r -> r.value() == null ? 1 : 0));
    return records;
  }
}
