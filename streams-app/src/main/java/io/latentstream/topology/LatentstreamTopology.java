package io.latentstream.topology;

import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.TokenEvent;
import java.util.Set;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/**
 * The whole topology, top-down:
 *
 * <pre>
 *   prompts (raw bytes, so undecodable records keep their bytes)
 *     -> generate [in-flight, session-cache, completed-requests]
 *          -> tokens             TokenEvent, one per generated token
 *          -> completions        Completion, one per finished request
 *          -> generation-errors  GenerationError, one per refused record or failed request
 * </pre>
 */
public final class LatentstreamTopology {
  private LatentstreamTopology() {}

  /** Adds the topology to {@code builder}; returns the stream of everything it produces. */
  public static KStream<String, SpecificRecord> build(
      StreamsBuilder builder, Topics topics, ServedModel model, TopologySettings settings) {
    return build(builder, topics, model, settings, GenerationObserver.NONE);
  }

  /** As {@link #build(StreamsBuilder, Topics, ServedModel, TopologySettings)}, observed. */
  public static KStream<String, SpecificRecord> build(
      StreamsBuilder builder,
      Topics topics,
      ServedModel model,
      TopologySettings settings,
      GenerationObserver observer) {
    checkOutputBound(model, settings);
    KStream<String, SpecificRecord> outputs =
        builder.stream(topics.prompts().name(), Consumed.with(Serdes.String(), Serdes.ByteArray()))
            .process(generate(topics, model, settings, observer), Named.as("generate"));
    outputs
        .split(Named.as("route-"))
        .branch(
            (key, value) -> value instanceof TokenEvent,
            Branched.withConsumer(
                tokens ->
                    tokens
                        .mapValues(value -> (TokenEvent) value)
                        .to(topics.tokens().name(), topics.tokens().produced()),
                "tokens"))
        .branch(
            (key, value) -> value instanceof Completion,
            Branched.withConsumer(
                completions ->
                    completions
                        .mapValues(value -> (Completion) value)
                        .to(topics.completions().name(), topics.completions().produced()),
                "completions"))
        .defaultBranch(
            Branched.withConsumer(
                errors ->
                    errors
                        .mapValues(value -> (GenerationError) value)
                        .to(topics.generationErrors().name(), topics.generationErrors().produced()),
                "errors"));
    return outputs;
  }

  /** What a completion may take besides its text and token ids (ids, model, digest, numbers). */
  static final int COMPLETION_OVERHEAD_BYTES = 64 * 1024;

  /**
   * Refuses settings under which an event could exceed the output limit, so that none ever does:
   * the largest is a completion, max_new_tokens tokens of at most {@code maxTokenBytes} text each
   * and 5 bytes of id each. Token events carry one token and bounded ids; error events cap their
   * message and echo (see GenerationProcessor).
   */
  static void checkOutputBound(ServedModel model, TopologySettings settings) {
    int tokenBytes = model.tokenizer() == null ? 0 : model.tokenizer().maxTokenBytes();
    long completion =
        (long) settings.limits().maxNewTokens() * (tokenBytes + 5) + COMPLETION_OVERHEAD_BYTES;
    if (completion > settings.maxOutputRecordBytes()) {
      throw new IllegalArgumentException(
          "a completion of "
              + settings.limits().maxNewTokens()
              + " tokens (the max_new_tokens limit) can take "
              + completion
              + " bytes, over the "
              + settings.maxOutputRecordBytes()
              + " an output event may take: lower latentstream.max-new-tokens-limit, or raise"
              + " latentstream.max-output-record-bytes together with the producer's"
              + " max.request.size and the output topics' max.message.bytes");
    }
  }

  static ProcessorSupplier<String, byte[], String, SpecificRecord> generate(
      Topics topics, ServedModel model, TopologySettings settings, GenerationObserver observer) {
    return new ProcessorSupplier<>() {
      @Override
      public Processor<String, byte[], String, SpecificRecord> get() {
        return new GenerationProcessor(
            model, topics.prompts().valueSerde().deserializer(), settings, observer);
      }

      @Override
      public Set<StoreBuilder<?>> stores() {
        // Caching folds a request's many progress updates between two commits into one changelog
        // record per commit: what a failover restores is consistent with what was committed.
        return Set.of(
            Stores.keyValueStoreBuilder(
                    Stores.persistentKeyValueStore(StoreNames.IN_FLIGHT),
                    Serdes.String(),
                    Serdes.ByteArray())
                .withCachingEnabled(),
            Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(StoreNames.SESSION_CACHE),
                Serdes.String(),
                Serdes.ByteArray()),
            Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(StoreNames.COMPLETED_REQUESTS),
                Serdes.String(),
                Serdes.Long()));
      }
    };
  }
}
