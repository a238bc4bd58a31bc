package io.latentstream.ops.pipeline;

import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.topology.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code latentstream tail}: follows the tokens and token-chunks topics (each request's tokens are
 * on one of them, as its form says) and shows each request's text grow.
 */
@Command(
    name = "tail",
    mixinStandardHelpOptions = true,
    description =
        "Follows generated tokens (read_committed), token events and chunks alike, and prints"
            + " each request's text.")
public final class TailCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin PipelineOptions pipeline;

  @Option(names = "--from-beginning", description = "Start at the oldest retained token.")
  boolean fromBeginning;

  @Option(
      names = "--requests",
      defaultValue = "0",
      description = "Stop after this many requests finished (default 0: follow until Ctrl-C).")
  int requests;

  @Override
  public Integer call() throws Exception {
    Topics topics = pipeline.topics();
    Map<String, Object> config = pipeline.clientProperties();
    config.put(ConsumerConfig.GROUP_ID_CONFIG, "latentstream-tail-" + UUID.randomUUID());
    config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, fromBeginning ? "earliest" : "latest");
    LiveView view = new LiveView(spec.commandLine().getOut(), System.console() != null);
    int finished = 0;
    Deserializer<TokenEvent> tokens = topics.tokens().valueSerde().deserializer();
    Deserializer<TokenChunk> chunks = topics.tokenChunks().valueSerde().deserializer();
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topics.tokens().name(), topics.tokenChunks().name()));
      while (requests == 0 || finished < requests) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(100))) {
          boolean last =
              record.topic().equals(topics.tokens().name())
                  ? view.accept(tokens.deserialize(record.topic(), record.value()))
                  : view.accept(chunks.deserialize(record.topic(), record.value()));
          if (last) {
            finished++;
          }
        }
      }
    }
    return 0;
  }
}
