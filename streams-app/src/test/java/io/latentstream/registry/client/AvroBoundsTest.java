package io.latentstream.registry.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenIdsInput;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bounds check before decoding: crafted counts and lengths that would make Avro allocate
 * gigabytes are refused at once, invalid UTF-8 is refused rather than replaced, and on random
 * mutations of valid records the check either refuses or lets through data that decodes.
 */
class AvroBoundsTest {
  private static final Schema PROMPT = PromptRequest.getClassSchema();
  private EmbeddedSchemaRegistry registry;
  private SchemaRegistryClient client;
  private Serde<PromptRequest> serde;

  @BeforeEach
  void start() throws IOException {
    registry = EmbeddedSchemaRegistry.inMemory().start();
    client = new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
    serde = AvroSerdes.specific(PromptRequest.class, client);
  }

  @AfterEach
  void stop() {
    registry.stop();
  }

  private static PromptRequest prompt(Object input) {
    return PromptRequest.newBuilder()
        .setRequestId("r-1")
        .setSessionId("s")
        .setTenant("acme")
        .setInput(input)
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxNewTokens(4)
                .setSeed(7L)
                .setStop(List.of("\n\n", "é"))
                .build())
        .setCreatedAt(Instant.ofEpochMilli(1))
        .setMetadata(Map.of("team", "a", "trace", "0xff"))
        .build();
  }

  private static List<PromptRequest> validPrompts() {
    return List.of(
        prompt(TextInput.newBuilder().setText("The jury said ü 😀").build()),
        prompt(TokenIdsInput.newBuilder().setTokenIds(List.of(0, 478, 4717)).build()),
        prompt(
            ChatInput.newBuilder()
                .setMessages(
                    List.of(
                        ChatMessage.newBuilder().setRole("user").setContent("hi").build(),
                        ChatMessage.newBuilder().setRole("assistant").setContent("").build()))
                .build()));
  }

  private static byte[] avro(PromptRequest prompt) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    new SpecificDatumWriter<PromptRequest>(PROMPT).write(prompt, encoder);
    encoder.flush();
    return out.toByteArray();
  }

  private static String violation(byte[] avro) {
    return assertThrows(
            AvroBounds.Violation.class, () -> AvroBounds.check(PROMPT, avro, 0, avro.length))
        .getMessage();
  }

  /** A prompt's fields up to its input written by hand, so counts and lengths can lie. */
  private static BinaryEncoder head(ByteArrayOutputStream out, int inputBranch) throws IOException {
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    e.writeString("r-1"); // request_id
    e.writeIndex(0); // session_id: null
    e.writeString("acme"); // tenant
    e.writeIndex(inputBranch); // input: 0 text, 1 chat, 2 token ids
    return e;
  }

  @Test
  void validPromptsPass() throws IOException, AvroBounds.Violation {
    for (PromptRequest p : validPrompts()) {
      byte[] bytes = avro(p);
      AvroBounds.check(PROMPT, bytes, 0, bytes.length);
    }
  }

  @Test
  void anArrayCountBeyondTheRecordIsRefusedBeforeAnyAllocation() throws IOException {
    // The hostile publisher's 58-byte record: token_ids announces 2,147,483,639 ints.
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder e = head(out, 2);
    e.writeLong(2_147_483_639L);
    e.writeInt(1);
    e.writeInt(2);
    e.flush();
    byte[] bytes = out.toByteArray();
    assertTrue(bytes.length < 58, bytes.length + " bytes");
    String why = violation(bytes);
    assertTrue(why.contains("count of 2147483639 items"), why);

    int id = client.register(AvroSerdes.subject("prompts", false), PROMPT);
    byte[] framed = concat(new byte[] {0, 0, 0, 0, (byte) id}, bytes);
    RecordDecodingException refused =
        assertThrows(
            RecordDecodingException.class,
            () -> serde.deserializer().deserialize("prompts", framed));
    assertEquals(RecordDecodingException.Code.UNDECODABLE, refused.code());
    assertTrue(refused.getMessage().contains("2147483639"), refused.getMessage());
  }

  @Test
  void chatMessagesStopStringsAndMetadataAreBoundedToo() throws IOException {
    ByteArrayOutputStream chat = new ByteArrayOutputStream();
    BinaryEncoder e = head(chat, 1);
    e.writeLong(Integer.MAX_VALUE - 8L); // messages
    e.writeString("user");
    e.flush();
    assertTrue(violation(chat.toByteArray()).contains("items"));

    // A block with a negative count announces its size in bytes: that must fit as well.
    ByteArrayOutputStream sized = new ByteArrayOutputStream();
    e = head(sized, 1);
    e.writeLong(-1);
    e.writeLong(1L << 40);
    e.flush();
    assertTrue(violation(sized.toByteArray()).contains("block of"));

    // metadata is the last field but token_events: an empty map one 0 byte, then the null
    // branch's 0. Announce 2^31 entries instead of the empty map.
    PromptRequest noMetadata =
        PromptRequest.newBuilder(prompt(TextInput.newBuilder().setText("x").build()))
            .setMetadata(Map.of())
            .setTokenEvents(null)
            .build();
    byte[] base = avro(noMetadata);
    assertEquals(0, base[base.length - 2], "the empty map before the null token_events");
    ByteArrayOutputStream count = new ByteArrayOutputStream();
    BinaryEncoder c = EncoderFactory.get().directBinaryEncoder(count, null);
    c.writeLong(1L << 31);
    c.flush();
    String why =
        violation(concat(java.util.Arrays.copyOf(base, base.length - 2), count.toByteArray()));
    assertTrue(why.contains("count of 2147483648 entries"), why);
  }

  @Test
  void stringLengthsVarintsUnionsAndTrailingBytesAreChecked() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    e.writeLong(600_000_000L); // request_id length
    e.writeFixed(new byte[] {'a', 'b'});
    e.flush();
    assertTrue(violation(out.toByteArray()).contains("string length 600000000"));

    assertTrue(violation(new byte[] {1}).contains("string length -1"));
    byte[] longVarint = new byte[11]; // a length never takes more than 10 bytes
    java.util.Arrays.fill(longVarint, 0, 10, (byte) 0x80);
    assertTrue(violation(concat(new byte[] {0, 0}, longVarint)).contains("varint longer than 10"));

    ByteArrayOutputStream union = new ByteArrayOutputStream();
    e = EncoderFactory.get().directBinaryEncoder(union, null);
    e.writeString("r");
    e.writeIndex(5); // session_id has two branches
    e.flush();
    assertTrue(violation(union.toByteArray()).contains("union branch 5"));

    byte[] valid = avro(validPrompts().get(1));
    assertTrue(violation(concat(valid, new byte[] {0})).contains("1 trailing bytes"));
  }

  @Test
  void invalidUtf8IsRefusedNotReplaced() throws IOException {
    byte[] valid = avro(prompt(TextInput.newBuilder().setText("@@@@").build()));
    byte[] bad = valid.clone();
    int at = indexOf(bad, "@@@@".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    bad[at] = (byte) 0xff;
    assertTrue(violation(bad).contains("not valid UTF-8"));
    // An encoded surrogate (CESU-8), which a lenient decoder would turn into a character.
    bad = valid.clone();
    bad[at] = (byte) 0xed;
    bad[at + 1] = (byte) 0xa0;
    bad[at + 2] = (byte) 0x80;
    assertTrue(violation(bad).contains("not valid UTF-8"));
  }

  @Test
  void randomMutationsAreRefusedOrDecode() throws IOException {
    Random random = new Random(17);
    SpecificDatumReader<PromptRequest> reader = new SpecificDatumReader<>(PROMPT);
    int passed = 0;
    for (int i = 0; i < 20_000; i++) {
      byte[] bytes = avro(validPrompts().get(i % 3)).clone();
      switch (i % 4) {
        case 0 -> bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
        case 1 -> bytes[random.nextInt(bytes.length)] = (byte) random.nextInt(256);
        case 2 -> bytes = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
        default -> {
          for (int k = 0; k < 3; k++) {
            bytes[random.nextInt(bytes.length)] = (byte) random.nextInt(256);
          }
        }
      }
      try {
        AvroBounds.check(PROMPT, bytes, 0, bytes.length);
      } catch (AvroBounds.Violation refused) {
        continue;
      }
      passed++;
      var decoder = DecoderFactory.get().binaryDecoder(bytes, null);
      reader.read(null, decoder); // must not throw: the data fits its schema
      assertTrue(decoder.isEnd(), "the check used every byte, so does the decoder");
    }
    assertTrue(passed > 100, passed + " mutations still decodable (the test exercises both)");
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
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
