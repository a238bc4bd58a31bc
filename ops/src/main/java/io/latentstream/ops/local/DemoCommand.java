package io.latentstream.ops.local;

import io.latentstream.ops.BackendOption;
import io.latentstream.ops.pipeline.LiveView;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.topology.Topics;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code latentstream demo}: the whole product in one command. Starts a local deployment, publishes
 * a few prompts (one of them a two-turn chat session), shows the tokens arriving live, prints what
 * each completion reports, and shuts everything down.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Shows the whole pipeline: prompts in, tokens streaming out, then shuts down.",
      "Starts broker, registry and service, publishes a few prompts (one a two-turn session),",
      "shows the tokens arriving live and shuts everything down."
    })
public final class DemoCommand implements Callable<Integer> {
  private static final Duration TIMEOUT = Duration.ofMinutes(3);

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      defaultValue = "models/brown-mtp",
      description = "Checkpoint directory (default ${DEFAULT-VALUE}).")
  Path model;

  @Mixin BackendOption backend = new BackendOption();

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    out.println("Starting a local Kafka broker, the schema registry and the service...");
    out.flush();
    try (RunDirectory data = RunDirectory.create("demo-");
        LocalStack stack =
            LocalStack.start(
                new LocalStack.Settings(data.path(), model, 0, 0, 0, 2, "demo.", backend.name))) {
      Topics topics =
          Topics.create(
              stack.topicPrefix(),
              new SchemaRegistryClient(RegistryClientConfig.of(stack.registryUrl())));
      out.println(
          "Console: "
              + stack.serviceUrl()
              + "/console (credentials "
              + stack.credentials()
              + ", for this run)");
      out.println("Publishing prompts to " + topics.prompts().name() + "; tokens as they arrive:");
      out.flush();
      try (KafkaProducer<String, PromptRequest> producer =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", stack.bootstrapServers()),
                  new StringSerializer(),
                  topics.prompts().valueSerde().serializer());
          KafkaConsumer<String, SpecificRecord> consumer = outputs(stack, topics)) {
        send(producer, topics, text("jury", "The jury said", 0.0));
        send(producer, topics, text("sampled", "It was a", 0.8));
        send(producer, topics, chat("chat-turn-1", "Tell me about the court."));
        Map<String, Completion> completions =
            follow(consumer, new LiveView(out, System.console() != null), 3, TIMEOUT);
        send(producer, topics, chat("chat-turn-2", "And what did the jury say?"));
        completions.putAll(
            follow(consumer, new LiveView(out, System.console() != null), 1, TIMEOUT));
        out.println();
        out.println("request       tokens  ttft ms  MTP accepted/drafted  cached prompt tokens");
        for (Completion c : completions.values()) {
          out.printf(
              "%-13s %6d %8d %10d/%-9d %8d%n",
              c.getRequestId(),
              c.getTokenIds().size(),
              c.getTimings().getTimeToFirstTokenMs(),
              c.getMtpAcceptedTokens(),
              c.getMtpDraftedTokens(),
              c.getUsage().getCachedPromptTokens());
        }
        out.println(
            "Model "
                + completions.values().iterator().next().getModelId()
                + ", weights "
                + completions.values().iterator().next().getWeightsDigest());
      }
      out.println("Shutting down.");
      out.flush();
    }
    return 0;
  }

  private static PromptRequest.Builder base(
      String requestId, double temperature, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setTenant("demo")
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(temperature)
                .setTopP(0.95)
                .setSeed(7L)
                .setMaxNewTokens(maxNewTokens)
                .build())
        .setCreatedAt(Instant.now());
  }

  private static PromptRequest text(String requestId, String text, double temperature) {
    return base(requestId, temperature, 40)
        .setInput(TextInput.newBuilder().setText(text).build())
        .build();
  }

  private static PromptRequest chat(String requestId, String user) {
    return base(requestId, 0.0, 24)
        .setSessionId("court-chat")
        .setInput(
            ChatInput.newBuilder().setMessages(List.of(new ChatMessage("user", user))).build())
        .build();
  }

  private static void send(
      KafkaProducer<String, PromptRequest> producer, Topics topics, PromptRequest prompt)
      throws Exception {
    String key = prompt.getSessionId() != null ? prompt.getSessionId() : prompt.getRequestId();
    producer.send(new ProducerRecord<>(topics.prompts().name(), key, prompt)).get();
  }

  /**
   * One consumer over tokens (token events and chunks: LATENTSTREAM_TOKEN_EVENTS may choose either)
   * and completions, decoding each by its topic.
   */
  private static KafkaConsumer<String, SpecificRecord> outputs(LocalStack stack, Topics topics) {
    Map<String, Deserializer<? extends SpecificRecord>> byName =
        Map.of(
            topics.tokens().name(), topics.tokens().valueSerde().deserializer(),
            topics.tokenChunks().name(), topics.tokenChunks().valueSerde().deserializer(),
            topics.completions().name(), topics.completions().valueSerde().deserializer());
    Deserializer<SpecificRecord> byTopic =
        (topic, bytes) -> byName.get(topic).deserialize(topic, bytes);
    KafkaConsumer<String, SpecificRecord> consumer =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                stack.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG,
                "latentstream-demo",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest"),
            new StringDeserializer(),
            byTopic);
    consumer.subscribe(byName.keySet());
    return consumer;
  }

  private static Map<String, Completion> follow(
      KafkaConsumer<String, SpecificRecord> consumer,
      LiveView view,
      int requests,
      Duration timeout) {
    Map<String, Completion> completions = new HashMap<>();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (completions.size() < requests) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "the demo's prompts did not complete within " + timeout.toSeconds() + " s");
      }
      for (ConsumerRecord<String, SpecificRecord> record : consumer.poll(Duration.ofMillis(50))) {
        if (record.value() instanceof TokenEvent token) {
          view.accept(token);
        } else if (record.value() instanceof TokenChunk chunk) {
          view.accept(chunk);
        } else if (record.value() instanceof Completion completion) {
          completions.put(completion.getRequestId(), completion);
        }
      }
    }
    return completions;
  }
}
