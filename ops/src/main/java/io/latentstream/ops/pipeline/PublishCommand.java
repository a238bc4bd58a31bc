package io.latentstream.ops.pipeline;

import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ChatMessage;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.schemas.TokenIdsInput;
import io.latentstream.topology.Topics;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream publish}: one prompt event onto the prompts topic. */
@Command(
    name = "publish",
    mixinStandardHelpOptions = true,
    description = "Publishes one prompt (text, chat or token ids) and prints its request id.")
public final class PublishCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin PipelineOptions pipeline;

  @ArgGroup(multiplicity = "1")
  Input input;

  static final class Input {
    @Option(names = "--text", description = "Plain text to continue.")
    String text;

    @Option(
        names = "--chat",
        split = "\\|\\|",
        description = "Chat messages as role:content, separated by '||' (e.g. 'user:Hello').")
    List<String> chat;

    @Option(names = "--ids", split = ",", description = "Token ids, comma-separated.")
    List<Integer> ids;
  }

  @Option(names = "--request-id", description = "Request id (default: a random UUID).")
  String requestId;

  @Option(names = "--session", description = "Session to continue (multi-turn).")
  String session;

  @Option(
      names = "--tenant",
      description = "Tenant (default: that of --tenant-topics, else default).")
  String tenant;

  @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy (default).")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1")
  double topP;

  @Option(names = "--top-k", defaultValue = "0")
  int topK;

  @Option(names = "--seed", description = "Sampling seed (default: derived from the request id).")
  Long seed;

  @Option(names = "--max-new-tokens", defaultValue = "64")
  int maxNewTokens;

  @Option(names = "--stop", description = "Stop string (repeatable).")
  List<String> stop = new ArrayList<>();

  @Option(names = "--no-mtp", description = "Do not draft this request's tokens with MTP.")
  boolean noMtp;

  @Option(
      names = "--token-events",
      description =
          "token (one event per token on tokens) or chunk (one per emit on token-chunks); default:"
              + " the deployment's latentstream.token-events.")
  TokenEventForm tokenEvents;

  @Override
  public Integer call() throws Exception {
    PromptRequest prompt = prompt();
    Topics topics = pipeline.topics();
    var config = pipeline.clientProperties();
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    try (KafkaProducer<String, PromptRequest> producer =
        new KafkaProducer<>(
            config, new StringSerializer(), topics.prompts().valueSerde().serializer())) {
      String key = session != null ? session : prompt.getRequestId();
      producer.send(new ProducerRecord<>(topics.prompts().name(), key, prompt)).get();
    }
    spec.commandLine().getOut().println(prompt.getRequestId());
    return 0;
  }

  PromptRequest prompt() {
    Object body;
    if (input.text != null) {
      body = TextInput.newBuilder().setText(input.text).build();
    } else if (input.chat != null) {
      List<ChatMessage> messages = new ArrayList<>();
      for (String message : input.chat) {
        int colon = message.indexOf(':');
        if (colon <= 0) {
          throw new IllegalArgumentException("chat message '" + message + "' is not role:content");
        }
        messages.add(new ChatMessage(message.substring(0, colon), message.substring(colon + 1)));
      }
      body = ChatInput.newBuilder().setMessages(messages).build();
    } else {
      body = TokenIdsInput.newBuilder().setTokenIds(input.ids).build();
    }
    return PromptRequest.newBuilder()
        .setRequestId(requestId != null ? requestId : UUID.randomUUID().toString())
        .setSessionId(session)
        .setTenant(
            tenant != null
                ? tenant
                : pipeline.tenantTopics != null ? pipeline.tenantTopics : "default")
        .setInput(body)
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(temperature)
                .setTopP(topP)
                .setTopK(topK)
                .setSeed(seed)
                .setMaxNewTokens(maxNewTokens)
                .setStop(stop)
                .build())
        .setAllowMtpDrafting(!noMtp)
        .setTokenEvents(tokenEvents)
        .setCreatedAt(Instant.now())
        .build();
  }
}
