package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.EmbeddedRegistryConfig;
import io.latentstream.registry.EmbeddedSchemaRegistry;
import io.latentstream.registry.RecordDecodingException;
import io.latentstream.registry.RegistryClientConfig;
import io.latentstream.registry.SchemaRegistryClient;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.testing.SharedKafkaCluster;
import io.latentstream.testing.SharedModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Hostile input on a real broker: random and mutated records (Avro bit flips, truncations, random
 * bytes, nonexistent schema ids, a wrong magic byte, no value, huge strings, chats of thousands of
 * messages, invalid UTF-8, well-formed records with edge-case field values) interleaved with valid
 * prompts. Every record is accounted for: a generation error naming its source offset, or, when the
 * mutation still decodes to a valid prompt, its completion; the valid prompts complete and the
 * service never fails.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PromptFuzzTest {
  private static final long SEED = 8;
  private static final int RECORDS = 200;
  private static EmbeddedSchemaRegistry registry;
  private static Topics topics;
  private static ServedModel model;
  private static KafkaStreams streams;
  private static final List<Throwable> failures = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    registry =
        new EmbeddedSchemaRegistry(
                EmbeddedRegistryConfig.of(SharedKafkaCluster.bootstrapServers())
                    .withSchemasTopic("_schemas-fuzz-test"))
            .start();
    topics =
        Topics.create(
            "fuzz-test.",
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    try (Admin admin =
        Admin.create(Map.of("bootstrap.servers", SharedKafkaCluster.bootstrapServers()))) {
      admin
          .createTopics(Topics.newTopics(topics.prefix(), 2, (short) 1))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
    model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(builder, topics, model, TopologySettings.defaults());
    Properties config =
        StreamsSettings.of(
            "fuzz-test",
            SharedKafkaCluster.bootstrapServers(),
            StreamsConfig.EXACTLY_ONCE_V2,
            Files.createTempDirectory("fuzz"),
            1);
    streams = new KafkaStreams(builder.build(), config);
    streams.setUncaughtExceptionHandler(
        e -> {
          failures.add(e);
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    streams.start();
  }

  @AfterAll
  static void stop() {
    if (streams != null) {
      streams.close(Duration.ofSeconds(30));
    }
    if (model != null) {
      model.close();
    }
    if (registry != null) {
      registry.stop();
    }
  }

  /** A record sent to prompts and what the test itself decodes from it (null: undecodable). */
  private record Sent(int partition, long offset, String requestId, String kind) {}

  @Test
  void everyHostileRecordYieldsAnErrorAndValidPromptsComplete() throws Exception {
    Random random = new Random(SEED);
    Serializer<PromptRequest> serializer = topics.prompts().valueSerde().serializer();
    Deserializer<PromptRequest> deserializer = topics.prompts().valueSerde().deserializer();
    String name = topics.prompts().name();
    List<Sent> sent = new ArrayList<>();
    List<String> valid = new ArrayList<>();
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                SharedKafkaCluster.bootstrapServers(),
                ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
                1_000_000),
            new StringSerializer(),
            new ByteArraySerializer())) {
      for (int i = 0; i < RECORDS; i++) {
        String kind;
        byte[] value;
        if (i % 10 == 0) {
          kind = "valid";
          String id = "valid-" + i;
          valid.add(id);
          value = serializer.serialize(name, prompt(id, text("The jury said")));
        } else {
          byte[] base = serializer.serialize(name, prompt("fuzz-" + i, text("It was")));
          switch (random.nextInt(10)) {
            case 0 -> {
              kind = "bit flips";
              value = base.clone();
              for (int f = 1 + random.nextInt(4); f > 0; f--) {
                int bit = 8 * 5 + random.nextInt(8 * (value.length - 5)); // past the header
                value[bit / 8] ^= (byte) (1 << (bit % 8));
              }
            }
            case 1 -> {
              kind = "truncated";
              value = Arrays.copyOf(base, 5 + random.nextInt(base.length - 5));
            }
            case 2 -> {
              kind = "random bytes";
              value = new byte[random.nextInt(64)];
              random.nextBytes(value);
            }
            case 3 -> {
              kind = "unknown schema id";
              value = base.clone();
              value[1] = 0x7f;
              value[2] = (byte) random.nextInt(256);
            }
            case 4 -> {
              kind = "wrong magic byte";
              value = base.clone();
              value[0] = (byte) (1 + random.nextInt(255));
            }
            case 5 -> {
              kind = "no value";
              value = null;
            }
            case 6 -> {
              kind = "huge string";
              value =
                  serializer.serialize(
                      name, prompt("fuzz-" + i, text("the jury ".repeat(50_000 + i))));
            }
            case 7 -> {
              kind = "deep chat";
              List<ChatMessage> messages = new ArrayList<>();
              for (int m = 0; m < 5_000; m++) {
                messages.add(
                    ChatMessage.newBuilder()
                        .setRole(m % 2 == 0 ? "user" : "assistant")
                        .setContent("and then")
                        .build());
              }
              value =
                  serializer.serialize(
                      name,
                      prompt("fuzz-" + i, ChatInput.newBuilder().setMessages(messages).build()));
            }
            case 8 -> {
              kind = "random fields";
              value = serializer.serialize(name, randomFields(random, "fuzz-" + i));
            }
            default -> {
              kind = "invalid UTF-8";
              byte[] marked = serializer.serialize(name, prompt("fuzz-" + i, text("@@@@")));
              value = marked.clone();
              int at = indexOf(marked, "@@@@".getBytes(StandardCharsets.UTF_8));
              value[at] = (byte) 0xff;
              value[at + 1] = (byte) 0xfe;
              value[at + 2] = (byte) 0xc0;
            }
          }
        }
        RecordMetadata metadata =
            producer.send(new ProducerRecord<>(name, "key-" + i, value)).get();
        sent.add(
            new Sent(
                metadata.partition(), metadata.offset(), decodedId(deserializer, value), kind));
      }
    }

    Map<String, GenerationError> errorsAt = new HashMap<>();
    Map<String, Completion> completions = new HashMap<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(200);
    try (KafkaConsumer<String, byte[]> consumer = consumer()) {
      consumer.subscribe(List.of(topics.generationErrors().name(), topics.completions().name()));
      List<Sent> open = new ArrayList<>(sent);
      while (!open.isEmpty()) {
        assertTrue(failures.isEmpty(), "the service failed: " + failures);
        assertTrue(System.nanoTime() < deadline, "unaccounted records: " + open);
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
          if (record.topic().equals(topics.generationErrors().name())) {
            GenerationError error =
                topics
                    .generationErrors()
                    .valueSerde()
                    .deserializer()
                    .deserialize(record.topic(), record.value());
            assertTrue(
                error.getSourceOffset() != null,
                "an error after acceptance: " + error.getCode() + " " + error.getMessage());
            errorsAt.put(error.getSourcePartition() + "@" + error.getSourceOffset(), error);
          } else {
            Completion completion =
                topics
                    .completions()
                    .valueSerde()
                    .deserializer()
                    .deserialize(record.topic(), record.value());
            completions.put(completion.getRequestId(), completion);
          }
        }
        open.removeIf(
            s ->
                errorsAt.containsKey(s.partition() + "@" + s.offset())
                    || (s.requestId() != null
                        && !errorsAt.containsKey(s.partition() + "@" + s.offset())
                        && completions.containsKey(s.requestId())));
      }
    }
    for (String id : valid) {
      assertTrue(completions.containsKey(id), id + " completed");
    }
    int errors = 0;
    for (Sent s : sent) {
      if (!s.kind().equals("valid") && errorsAt.containsKey(s.partition() + "@" + s.offset())) {
        errors++;
      }
    }
    assertTrue(errors >= (RECORDS - valid.size()) * 3 / 4, "most hostile records are refused");
    assertEquals(KafkaStreams.State.RUNNING, streams.state());
    assertEquals(List.of(), failures);
  }

  /** A well-formed record whose every field is drawn from edge cases and random values. */
  private static PromptRequest randomFields(Random random, String id) {
    String[] strings = {"", " ", "\u0000", "\uffff", "\ud83d\ude00", "x".repeat(5000), "acme"};
    double[] doubles = {0, -0.0, -1, 0.5, 1, 1.5, Double.NaN, Double.POSITIVE_INFINITY, 1e308};
    int[] ints = {Integer.MIN_VALUE, -1, 0, 1, 7, 1024, 1025, Integer.MAX_VALUE};
    Object input =
        switch (random.nextInt(3)) {
          case 0 -> text(strings[random.nextInt(strings.length)]);
          case 1 ->
              ChatInput.newBuilder()
                  .setMessages(
                      List.of(
                          ChatMessage.newBuilder()
                              .setRole(random.nextBoolean() ? "user" : strings[random.nextInt(7)])
                              .setContent(strings[random.nextInt(strings.length)])
                              .build()))
                  .build();
          default ->
              io.latentstream.schemas.TokenIdsInput.newBuilder()
                  .setTokenIds(
                      List.of(ints[random.nextInt(ints.length)], ints[random.nextInt(ints.length)]))
                  .build();
        };
    List<String> stop =
        random.nextInt(3) == 0 ? List.of(strings[random.nextInt(strings.length)]) : List.of();
    int maxNewTokens =
        random.nextInt(4) == 0 ? ints[random.nextInt(ints.length)] : 1 + random.nextInt(8);
    return PromptRequest.newBuilder()
        .setRequestId(random.nextInt(8) == 0 ? "" : id)
        .setSessionId(random.nextBoolean() ? null : strings[random.nextInt(strings.length)])
        .setTenant(strings[random.nextInt(strings.length)])
        .setInput(input)
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(doubles[random.nextInt(doubles.length)])
                .setTopP(doubles[random.nextInt(doubles.length)])
                .setTopK(ints[random.nextInt(ints.length)])
                .setSeed(random.nextBoolean() ? null : random.nextLong())
                .setMaxNewTokens(maxNewTokens)
                .setStop(stop)
                .build())
        .setAllowMtpDrafting(random.nextBoolean())
        .setCreatedAt(Instant.ofEpochMilli(random.nextLong() >>> 20))
        .build();
  }

  private static String decodedId(Deserializer<PromptRequest> deserializer, byte[] value) {
    if (value == null) {
      return null;
    }
    try {
      PromptRequest prompt = deserializer.deserialize("fuzz-test.prompts", value);
      return prompt.getRequestId();
    } catch (RecordDecodingException e) {
      return null;
    }
  }

  private static PromptRequest prompt(String id, Object input) {
    return PromptRequest.newBuilder()
        .setRequestId(id)
        .setTenant("acme")
        .setInput(input)
        .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(4).build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private static TextInput text(String text) {
    return TextInput.newBuilder().setText(text).build();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new IllegalArgumentException("marker not found");
  }

  private static KafkaConsumer<String, byte[]> consumer() {
    Map<String, Object> config = new HashMap<>();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, SharedKafkaCluster.bootstrapServers());
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    config.put(ConsumerConfig.GROUP_ID_CONFIG, "fuzz-reader-" + System.nanoTime());
    return new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
  }
}
