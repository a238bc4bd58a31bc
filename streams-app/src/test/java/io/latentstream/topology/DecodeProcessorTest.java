package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.latentstream.model.ModelConfig;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.testing.SharedModels;
import io.latentstream.tokenizer.Tokenizer;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The decode node on its own: what it hands generate for a valid prompt, a verdict, and records it
 * refuses. The real registry protocol (in-memory storage) and the brown-mtp tokenizer.
 */
class DecodeProcessorTest {
  private static EmbeddedSchemaRegistry registry;
  private static Topics topics;
  private static Tokenizer tokenizer;
  private static PromptValidator validator;
  private MockProcessorContext<String, Arrival> context;
  private DecodeProcessor decode;

  @BeforeAll
  static void start() throws Exception {
    registry = EmbeddedSchemaRegistry.inMemory().start();
    topics =
        Topics.create(
            "decode.",
            new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString())));
    Path brown = SharedModels.model("brown-mtp");
    tokenizer = Tokenizer.load(brown);
    ModelConfig config = ModelConfig.load(brown);
    validator =
        new PromptValidator(
            tokenizer,
            config.vocabSize(),
            config.maxPositionEmbeddings(),
            PromptLimits.defaults(),
            TokenEventForm.TOKEN);
  }

  @AfterAll
  static void stop() {
    registry.stop();
  }

  @BeforeEach
  void createProcessor() {
    context = new MockProcessorContext<>();
    context.setCurrentSystemTimeMs(1_000);
    decode = new DecodeProcessor(topics, validator, TopologySettings.defaults());
    decode.init(context);
  }

  private static PromptRequest.Builder prompt(String requestId, Object input) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setTenant("acme")
        .setInput(input)
        .setSampling(SamplingParams.newBuilder().setTemperature(0.0).setMaxNewTokens(4).build())
        .setCreatedAt(Instant.now());
  }

  private byte[] bytes(PromptRequest prompt) {
    return topics.prompts().valueSerde().serializer().serialize(topics.prompts().name(), prompt);
  }

  /** Decodes one record consumed at offset 7 of partition 2 of {@code topic}. */
  private Arrival decode(String topic, String key, byte[] value) {
    context.resetForwards();
    context.setRecordMetadata(topic, 2, 7);
    decode.process(new Record<>(key, value, 5L));
    assertEquals(1, context.forwarded().size(), "one arrival per record");
    return context.forwarded().get(0).record().value();
  }

  @Test
  void aTextPromptArrivesTokenizedAsAFirstTurnAndAsALaterOne() {
    PromptRequest prompt =
        prompt("r1", TextInput.newBuilder().setText("The jury said").build()).build();
    byte[] value = bytes(prompt);
    Arrival.Prompt arrival =
        assertInstanceOf(Arrival.Prompt.class, decode(topics.prompts().name(), "k", value));
    assertEquals(prompt, arrival.prompt().request());
    assertArrayEquals(value, arrival.bytes());
    assertArrayEquals(tokenizer.encode("The jury said", true), arrival.prompt().first().tokens());
    assertArrayEquals(tokenizer.encode("The jury said", false), arrival.prompt().later().tokens());
    assertEquals(tokenizer.bosId(), arrival.prompt().first().tokens()[0]);
  }

  @Test
  void aChatTurnThatContinuesASessionLeavesOutTheTemplatesBos() {
    ChatInput chat =
        ChatInput.newBuilder()
            .setMessages(List.of(ChatMessage.newBuilder().setRole("user").setContent("Hi").build()))
            .build();
    Arrival.Prompt arrival =
        assertInstanceOf(
            Arrival.Prompt.class,
            decode(topics.prompts().name(), "k", bytes(prompt("r2", chat).build())));
    int[] first = arrival.prompt().first().tokens();
    assertEquals(tokenizer.bosId(), first[0]);
    assertArrayEquals(
        Arrays.copyOfRange(first, 1, first.length), arrival.prompt().later().tokens());
    assertEquals(true, arrival.prompt().later().chat());
  }

  /**
   * The form of a request's token events is decided as it is decoded: its prompt's token_events
   * where set, else the deployment's (latentstream.token-events).
   */
  @Test
  void aPromptsTokenEventFormOverridesTheDeploymentsChoice() throws Exception {
    ModelConfig config = ModelConfig.load(SharedModels.model("brown-mtp"));
    for (TokenEventForm deployment : TokenEventForm.values()) {
      PromptValidator deployed =
          new PromptValidator(
              tokenizer,
              config.vocabSize(),
              config.maxPositionEmbeddings(),
              PromptLimits.defaults(),
              deployment);
      decode = new DecodeProcessor(topics, deployed, TopologySettings.defaults());
      decode.init(context);
      PromptRequest.Builder unset = prompt("r5", TextInput.newBuilder().setText("It was").build());
      assertEquals(deployment, decoded(unset.build()).tokenEvents(), "no choice: the deployment's");
      for (TokenEventForm chosen : TokenEventForm.values()) {
        assertEquals(
            chosen,
            decoded(unset.setTokenEvents(chosen).build()).tokenEvents(),
            "chosen " + chosen + " under a deployment of " + deployment);
      }
    }
  }

  private ValidPrompt decoded(PromptRequest prompt) {
    return assertInstanceOf(
            Arrival.Prompt.class, decode(topics.prompts().name(), "k", bytes(prompt)))
        .prompt();
  }

  @Test
  void undecodableBytesAreRefusedWithTheirRecordNamedAndEchoed() {
    byte[] garbage = {0, 0, 0, 0, 1, 42, 42};
    Arrival.Refused refused =
        assertInstanceOf(Arrival.Refused.class, decode(topics.prompts().name(), "key", garbage));
    GenerationError error = refused.error();
    assertNull(error.getRequestId());
    assertNull(refused.tenant(), "tenants have no topics apart here");
    assertEquals(topics.prompts().name(), error.getSourceTopic());
    assertEquals(2, error.getSourcePartition());
    assertEquals(7L, error.getSourceOffset());
    assertEquals(ByteBuffer.wrap(garbage), error.getOriginalValue());
    assertEquals(ByteBuffer.wrap("key".getBytes()), error.getOriginalKey());
  }

  @Test
  void anInvalidPromptIsRefusedUnderItsRequestId() {
    PromptRequest hot =
        prompt("r3", TextInput.newBuilder().setText("x").build())
            .setSampling(
                SamplingParams.newBuilder().setTemperature(-1.0).setMaxNewTokens(4).build())
            .build();
    Arrival.Refused refused =
        assertInstanceOf(Arrival.Refused.class, decode(topics.prompts().name(), null, bytes(hot)));
    assertEquals("r3", refused.error().getRequestId());
    assertEquals(ErrorCode.INVALID_TEMPERATURE, refused.error().getCode());
    assertNull(refused.error().getOriginalKey());
  }

  @Test
  void aRecordWithNoValueIsRefused() {
    Arrival.Refused refused =
        assertInstanceOf(Arrival.Refused.class, decode(topics.prompts().name(), "k", null));
    assertEquals(ErrorCode.UNDECODABLE, refused.error().getCode());
    assertNull(refused.error().getOriginalValue());
  }

  @Test
  void verdictsArriveDecoded() {
    Claims.Verdict verdict = new Claims.Verdict(new Claims.Claim("r4", 2, 7), true);
    byte[] value =
        topics
            .requestVerdicts()
            .valueSerde()
            .serializer()
            .serialize(topics.requestVerdicts().name(), verdict);
    Arrival.Verdict arrival =
        assertInstanceOf(
            Arrival.Verdict.class, decode(topics.requestVerdicts().name(), "r4", value));
    assertEquals(verdict, arrival.verdict());
  }
}
