package io.latentstream.topology;

import io.latentstream.events.OutputEvents;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.Claims.Claim;
import io.latentstream.topology.Claims.Verdict;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
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
 *   prompts (raw bytes, so undecodable records keep their bytes; each tenant's, where tenants
 *   + request-verdicts                                             have their own topics)
 *     -> decode             Arrival: a valid prompt (checked, tokenized), a refusal, a verdict
 *     -> generate [in-flight, session-cache]
 *          -> tokens             TokenEvent, one per generated token (requests of form TOKEN)
 *          -> token-chunks       TokenChunk, one per request per emit (requests of form CHUNK)
 *          -> completions        Completion, one per finished request
 *          -> generation-errors  GenerationError, one per refused record or failed request
 *             (each to the topic of the prompt's tenant, where tenants have their own)
 *          -> request-claims     Claim, one per accepted prompt, keyed by request id
 *   request-claims
 *     -> deduplicate [request-ids]
 *          -> request-verdicts   Verdict, back to the partition of the claim's prompt
 * </pre>
 *
 * Generation is partitioned by session (a session's turns and cache meet in one task); request ids
 * are deduplicated partitioned by request id (every prompt of an id meets in one task): an accepted
 * prompt waits for its verdict before it generates.
 */
public final class LatentstreamTopology {
  /** The generate processor's children, one per output topic. */
  static final String TOKENS = "tokens";

  static final String TOKEN_CHUNKS = "token-chunks";
  static final String COMPLETIONS = "completions";
  static final String GENERATION_ERRORS = "generation-errors";
  static final String REQUEST_CLAIMS = "request-claims";

  private LatentstreamTopology() {}

  /** Adds the topology to {@code builder}; returns the stream of what generate produces. */
  public static KStream<String, Object> build(
      StreamsBuilder builder, Topics topics, ServedModel model, TopologySettings settings) {
    return build(builder, topics, model, settings, PipelineObserver.NONE);
  }

  /** As {@link #build(StreamsBuilder, Topics, ServedModel, TopologySettings)}, observed. */
  public static KStream<String, Object> build(
      StreamsBuilder builder,
      Topics topics,
      ServedModel model,
      TopologySettings settings,
      PipelineObserver observer) {
    checkOutputBound(model, settings);
    Consumed<String, byte[]> raw = Consumed.with(Serdes.String(), Serdes.ByteArray());
    KStream<String, byte[]> prompts =
        builder.stream(topics.promptTopics(), raw.withName("prompts"));
    KStream<String, byte[]> verdicts =
        builder.stream(topics.requestVerdicts().name(), raw.withName("request-verdicts"));
    KStream<String, Object> generated =
        prompts
            .merge(verdicts, Named.as("prompts-and-verdicts"))
            .process(decode(topics, model, settings), Named.as("decode"))
            .process(generate(topics, model, settings, observer), Named.as("generate"));
    if (topics.tenants().isEmpty()) {
      outputSinks(generated, topics, null);
    } else {
      topics.tenants().forEach(tenant -> outputSinks(generated, topics.tenant(tenant), tenant));
    }
    sink(generated, topics.requestClaims(), REQUEST_CLAIMS);

    builder.stream(topics.requestClaims().name(), topics.requestClaims().consumed())
        .process(deduplicate(settings, observer), Named.as("deduplicate"))
        .to(
            topics.requestVerdicts().name(),
            topics
                .requestVerdicts()
                .produced()
                .withName("verdicts")
                .withStreamPartitioner(
                    (topic, key, verdict, partitions) ->
                        Optional.of(Set.of(verdict.claim().partition()))));
    return generated;
  }

  /**
   * The name of the sink of {@code output} (one of the constants) for {@code tenant}'s requests, or
   * for every request (null) where the deployment has no tenants apart.
   */
  static String sinkName(String output, String tenant) {
    return tenant == null ? output : tenant + "." + output;
  }

  /** The sinks of the events for {@code tenant}'s requests, to its topics {@code outputs}. */
  private static void outputSinks(
      KStream<String, Object> generated, Topics outputs, String tenant) {
    sink(generated, outputs.tokens(), sinkName(TOKENS, tenant));
    sink(generated, outputs.tokenChunks(), sinkName(TOKEN_CHUNKS, tenant));
    sink(generated, outputs.completions(), sinkName(COMPLETIONS, tenant));
    sink(generated, outputs.generationErrors(), sinkName(GENERATION_ERRORS, tenant));
  }

  /**
   * A sink for one of generate's outputs, named so that generate forwards to it by name: each
   * output has its own topic and typed serde, no routing by type.
   */
  @SuppressWarnings("unchecked")
  private static <V> void sink(
      KStream<String, Object> outputs, Topics.Topic<String, V> topic, String name) {
    ((KStream<String, V>) (KStream<String, ?>) outputs)
        .to(topic.name(), topic.produced().withName(name));
  }

  /**
   * Refuses settings under which an event could exceed the output limit, so that none ever does:
   * the largest is a completion, max_new_tokens tokens of at most {@code maxTokenBytes} text each
   * and 5 bytes of id each, or a chunk of a single token whose text delta releases the whole
   * output's text (text is held back while it may begin a stop string). Chunks of more tokens are
   * cut to the limit as they are built ({@link OutputEvents#chunks}); token events carry one token
   * and bounded ids; error events cap their message and echo (see GenerationProcessor).
   */
  static void checkOutputBound(ServedModel model, TopologySettings settings) {
    int tokenBytes = model.tokenizer() == null ? 0 : model.tokenizer().maxTokenBytes();
    long text = (long) settings.limits().maxNewTokens() * tokenBytes;
    long completion =
        text + 5L * settings.limits().maxNewTokens() + OutputEvents.EVENT_OVERHEAD_BYTES;
    long chunk = text + OutputEvents.CHUNK_TOKEN_BYTES + OutputEvents.EVENT_OVERHEAD_BYTES;
    long largest = Math.max(completion, chunk);
    if (largest > settings.maxOutputRecordBytes()) {
      throw new IllegalArgumentException(
          "a completion or token chunk of "
              + settings.limits().maxNewTokens()
              + " tokens (the max_new_tokens limit) can take "
              + largest
              + " bytes, over the "
              + settings.maxOutputRecordBytes()
              + " an output event may take: lower latentstream.max-new-tokens-limit, or raise"
              + " latentstream.max-output-record-bytes together with the producer's"
              + " max.request.size and the output topics' max.message.bytes");
    }
  }

  static ProcessorSupplier<String, byte[], String, Arrival> decode(
      Topics topics, ServedModel model, TopologySettings settings) {
    PromptValidator validator =
        PromptValidator.of(model, settings.limits(), settings.tokenEvents());
    return () -> new DecodeProcessor(topics, validator, settings);
  }

  static ProcessorSupplier<String, Arrival, String, Object> generate(
      Topics topics, ServedModel model, TopologySettings settings, PipelineObserver observer) {
    return new ProcessorSupplier<>() {
      @Override
      public Processor<String, Arrival, String, Object> get() {
        return new GenerationProcessor(model, topics, settings, observer);
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
                Serdes.ByteArray()));
      }
    };
  }

  static ProcessorSupplier<String, Claim, String, Verdict> deduplicate(
      TopologySettings settings, PipelineObserver observer) {
    return new ProcessorSupplier<>() {
      @Override
      public Processor<String, Claim, String, Verdict> get() {
        return new DeduplicationProcessor(settings, observer);
      }

      @Override
      public Set<StoreBuilder<?>> stores() {
        return Set.of(
            Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(StoreNames.REQUEST_IDS),
                Serdes.String(),
                Serdes.ByteArray()));
      }
    };
  }
}
