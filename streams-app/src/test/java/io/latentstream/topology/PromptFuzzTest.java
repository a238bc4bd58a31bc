package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.client.RecordDecodingException;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.testing.EventReader;
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
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
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
 * service never fails. Then records crafted to hurt (counts of 2^31 items in a few bytes, ids and
 * prompts of hundreds of kilobytes, a record near the broker's size limit, a failure inside the
 * service) each get the error they deserve, and the service goes on.
 */
@ExtendWith(SharedKafkaCluster.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PromptFuzzTest {
  private static final long SEED = 8;
  private static final int RECORDS = 200;

  /** Request ids with this prefix make the service fail inside (a planted bug). */
  private static final String EXPLODES = "explodes-";

  private static EmbeddedSchemaRegistry registry;
  private static Topics topics;
  private static ServedModel model;
  private static KafkaStreams streams;
  private static final List<Throwable> failures = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    registry = SharedKafkaCluster.registry("_schemas-fuzz-test");
    topics =
        Topics.create(
            "fuzz-test.",
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    SharedKafkaCluster.createTopics(Topics.newTopics(topics.prefix(), 2, (short) 1));
    model =
        ServedModel.load(
            SharedModels.model("brown-mtp"), "brown-mtp", GenerationLoop.Settings.defaults());
    StreamsBuilder builder = new StreamsBuilder();
    LatentstreamTopology.build(
        builder,
        topics,
        model,
        TopologySettings.defaults(),
        new PipelineObserver() {
          @Override
          public void started(Request request, int promptTokens) {
            if (request.requestId().startsWith(EXPLODES)) {
              throw new IllegalStateException("a planted failure for " + request.requestId());
            }
          }
        });
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
    Map<String, Completion> completions;
    try (EventReader reader =
        EventReader.committed(topics.generationErrors(), topics.completions())) {
      List<Sent> open = new ArrayList<>(sent);
      reader.pollUntil(
          Duration.ofSeconds(200),
          () -> {
            assertTrue(failures.isEmpty(), "the service failed: " + failures);
            for (GenerationError error : reader.read(topics.generationErrors())) {
              assertTrue(
                  error.getSourceOffset() != null,
                  () -> "an error after acceptance: " + error.getCode() + " " + error.getMessage());
              errorsAt.put(source(error), error);
            }
            open.removeIf(
                s ->
                    errorsAt.containsKey(s.partition() + "@" + s.offset())
                        || (s.requestId() != null
                            && !errorsAt.containsKey(s.partition() + "@" + s.offset())
                            && reader.completed(s.requestId())));
            return open.isEmpty();
          },
          () -> "unaccounted records: " + open);
      completions = reader.completions();
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

  /** A crafted record and the error code it must get. */
  private record Crafted(String kind, byte[] value, ErrorCode expected) {}

  @Test
  void craftedRecordsGetTheirErrorAndTheServiceGoesOn() throws Exception {
    Serializer<PromptRequest> serializer = topics.prompts().valueSerde().serializer();
    String name = topics.prompts().name();
    byte[] valid = serializer.serialize(name, prompt("crafted-base", text("It was")));
    byte[] header = Arrays.copyOf(valid, 5); // magic byte and the registered schema id
    String big = "x".repeat(600_000);
    List<Crafted> crafted =
        List.of(
            new Crafted(
                "2^31 token ids in a few bytes",
                concat(header, avroHead(2), varint(2_147_483_639L), varint(2), varint(4)),
                ErrorCode.UNDECODABLE),
            new Crafted(
                "2^31 chat messages",
                concat(header, avroHead(1), varint(2_147_483_639L), avroString("user")),
                ErrorCode.UNDECODABLE),
            new Crafted(
                "a string claiming 600 MB",
                concat(header, varint(600_000_000L), "abc".getBytes(StandardCharsets.UTF_8)),
                ErrorCode.UNDECODABLE),
            new Crafted(
                "a 600 KB request id",
                serializer.serialize(name, prompt(big, text("It was"))),
                ErrorCode.INVALID_REQUEST),
            new Crafted(
                "a 600 KB session id",
                serializer.serialize(
                    name,
                    PromptRequest.newBuilder(prompt("crafted-session", text("It was")))
                        .setSessionId(big)
                        .build()),
                ErrorCode.INVALID_REQUEST),
            new Crafted(
                "a 600 KB tenant",
                serializer.serialize(
                    name,
                    PromptRequest.newBuilder(prompt("crafted-tenant", text("It was")))
                        .setTenant(big)
                        .build()),
                ErrorCode.INVALID_REQUEST),
            new Crafted(
                "a 900 KB prompt, refused before tokenizing",
                serializer.serialize(
                    name, prompt("crafted-long", text("the jury said ".repeat(64_000)))),
                ErrorCode.CONTEXT_OVERFLOW),
            new Crafted(
                "200 stop strings",
                serializer.serialize(
                    name,
                    PromptRequest.newBuilder(prompt("crafted-stop", text("It was")))
                        .setSampling(
                            SamplingParams.newBuilder()
                                .setMaxNewTokens(4)
                                .setStop(java.util.Collections.nCopies(200, "stop"))
                                .build())
                        .build()),
                ErrorCode.INVALID_REQUEST),
            new Crafted(
                "4,000 metadata entries",
                serializer.serialize(
                    name,
                    PromptRequest.newBuilder(prompt("crafted-metadata", text("It was")))
                        .setMetadata(metadata(4_000))
                        .build()),
                ErrorCode.INVALID_REQUEST),
            new Crafted(
                "an undecodable record of 990 KB, echoed in part",
                concat(header, new byte[990_000]),
                ErrorCode.UNDECODABLE),
            new Crafted(
                "invalid UTF-8 in the request id",
                invalidUtf8(serializer.serialize(name, prompt("@@@@", text("It was")))),
                ErrorCode.UNDECODABLE),
            new Crafted(
                "a failure inside the service",
                serializer.serialize(name, prompt(EXPLODES + "1", text("It was"))),
                ErrorCode.INTERNAL_ERROR));
    Map<String, Crafted> byOffset = new HashMap<>();
    List<String> after = new ArrayList<>();
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                SharedKafkaCluster.bootstrapServers(),
                ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
                1_040_000),
            new StringSerializer(),
            new ByteArraySerializer())) {
      for (Crafted c : crafted) {
        RecordMetadata m = producer.send(new ProducerRecord<>(name, c.kind(), c.value())).get();
        byOffset.put(m.partition() + "@" + m.offset(), c);
      }
      for (int i = 0; i < 2; i++) {
        String id = "after-crafted-" + i;
        after.add(id);
        producer
            .send(
                new ProducerRecord<>(
                    name, id, serializer.serialize(name, prompt(id, text("The jury")))))
            .get();
      }
    }
    Map<String, GenerationError> errors = new HashMap<>();
    try (EventReader reader =
        EventReader.committed(topics.generationErrors(), topics.completions())
            .checking(
                record -> {
                  if (record.topic().equals(topics.generationErrors().name())) {
                    assertTrue(
                        record.serializedValueSize() < 1_000_000, "an error event fits the limit");
                  }
                })) {
      reader.pollUntil(
          Duration.ofSeconds(120),
          () -> {
            assertTrue(failures.isEmpty(), "the service failed: " + failures);
            for (GenerationError error : reader.read(topics.generationErrors())) {
              if (error.getSourceOffset() != null) {
                errors.put(source(error), error);
              }
            }
            return errors.keySet().containsAll(byOffset.keySet())
                && reader.completions().keySet().containsAll(after);
          },
          () -> "unaccounted: " + byOffset.keySet() + " vs " + errors.keySet() + ", " + after);
    }
    for (var entry : byOffset.entrySet()) {
      GenerationError error = errors.get(entry.getKey());
      assertEquals(
          entry.getValue().expected(),
          error.getCode(),
          entry.getValue().kind() + ": " + error.getMessage());
      assertTrue(
          error.getRequestId() == null || error.getRequestId().length() <= 128,
          entry.getValue().kind() + ": an over-long id is not repeated");
    }
    GenerationError echoed =
        errors.values().stream()
            .filter(e -> e.getMessage().contains("echoed"))
            .findFirst()
            .orElseThrow();
    assertTrue(echoed.getOriginalValue().remaining() <= 250_000, "the echo is cut");
    assertEquals(KafkaStreams.State.RUNNING, streams.state());
  }

  /** The prompt an error is about, as "partition@offset" of the prompts topic. */
  private static String source(GenerationError error) {
    return error.getSourcePartition() + "@" + error.getSourceOffset();
  }

  private static Map<String, String> metadata(int entries) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < entries; i++) {
      m.put("k" + i, "v");
    }
    return m;
  }

  private static byte[] invalidUtf8(byte[] marked) {
    byte[] value = marked.clone();
    int at = indexOf(marked, "@@@@".getBytes(StandardCharsets.UTF_8));
    value[at] = (byte) 0xff;
    return value;
  }

  /** A prompt's fields up to its input union's branch: request id, no session, tenant. */
  private static byte[] avroHead(int inputBranch) {
    return concat(avroString("r-crafted"), varint(0), avroString("acme"), varint(inputBranch));
  }

  private static byte[] avroString(String s) {
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    return concat(varint(bytes.length), bytes);
  }

  /** Avro's zig-zag varint. */
  private static byte[] varint(long value) {
    long v = (value << 1) ^ (value >> 63);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    while ((v & ~0x7fL) != 0) {
      out.write((int) ((v & 0x7f) | 0x80));
      v >>>= 7;
    }
    out.write((int) v);
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
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
}
