package io.latentstream.topology;

import io.latentstream.registry.AvroSerdes;
import io.latentstream.registry.SchemaRegistryClient;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenEvent;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Every topic the pipeline reads or writes, each with its serdes: the one place topic names are
 * spelled. Names take a configurable prefix ({@code "team-a."} gives {@code team-a.prompts}) so
 * several deployments can share a cluster. Keys are strings: the session id (or request id) on
 * {@code prompts}, the request id elsewhere. Changelog topics of the state stores are created and
 * named by Kafka Streams, not here.
 */
public final class Topics {
  /** Prompt events in: {@link PromptRequest}, keyed by session id, else request id. */
  public static final String PROMPTS = "prompts";

  /** One event per generated token: {@link TokenEvent}, keyed by request id. */
  public static final String TOKENS = "tokens";

  /** One event per finished request: {@link Completion}, keyed by request id. */
  public static final String COMPLETIONS = "completions";

  /** Prompts that could not be served: {@link GenerationError}, keyed by request id when known. */
  public static final String GENERATION_ERRORS = "generation-errors";

  /**
   * The service's own: claims of request ids ({@link Claims.Claim}), keyed by request id, so that
   * an id is generated at most once whatever partition of prompts it arrives on.
   */
  public static final String REQUEST_CLAIMS = "request-claims";

  /**
   * The service's own: the answers to claims ({@link Claims.Verdict}), each on the partition of the
   * prompt it answers: it must have as many partitions as prompts.
   */
  public static final String REQUEST_VERDICTS = "request-verdicts";

  private static final Pattern LEGAL_NAME = Pattern.compile("[a-zA-Z0-9._-]+");

  /** A topic with the serdes of its keys and values. */
  public record Topic<K, V>(String name, Serde<K> keySerde, Serde<V> valueSerde) {
    public Consumed<K, V> consumed() {
      return Consumed.with(keySerde, valueSerde);
    }

    public Produced<K, V> produced() {
      return Produced.with(keySerde, valueSerde);
    }
  }

  private final String prefix;
  private final Topic<String, PromptRequest> prompts;
  private final Topic<String, TokenEvent> tokens;
  private final Topic<String, Completion> completions;
  private final Topic<String, GenerationError> generationErrors;
  private final Topic<String, Claims.Claim> requestClaims;
  private final Topic<String, Claims.Verdict> requestVerdicts;

  private Topics(String prefix, SchemaRegistryClient registry, AvroSerdes.Config serdeConfig) {
    this.prefix = checkPrefix(prefix);
    this.prompts = topic(PROMPTS, PromptRequest.class, registry, serdeConfig);
    this.tokens = topic(TOKENS, TokenEvent.class, registry, serdeConfig);
    this.completions = topic(COMPLETIONS, Completion.class, registry, serdeConfig);
    this.generationErrors = topic(GENERATION_ERRORS, GenerationError.class, registry, serdeConfig);
    this.requestClaims = new Topic<>(prefix + REQUEST_CLAIMS, Serdes.String(), Claims.claimSerde());
    this.requestVerdicts =
        new Topic<>(prefix + REQUEST_VERDICTS, Serdes.String(), Claims.verdictSerde());
  }

  /** The topics under {@code prefix}, with serdes that register schemas on first use. */
  public static Topics create(String prefix, SchemaRegistryClient registry) {
    return new Topics(prefix, registry, AvroSerdes.Config.VALUES);
  }

  public static Topics create(
      String prefix, SchemaRegistryClient registry, AvroSerdes.Config serdeConfig) {
    return new Topics(prefix, registry, serdeConfig);
  }

  public String prefix() {
    return prefix;
  }

  public Topic<String, PromptRequest> prompts() {
    return prompts;
  }

  public Topic<String, TokenEvent> tokens() {
    return tokens;
  }

  public Topic<String, Completion> completions() {
    return completions;
  }

  public Topic<String, GenerationError> generationErrors() {
    return generationErrors;
  }

  public Topic<String, Claims.Claim> requestClaims() {
    return requestClaims;
  }

  public Topic<String, Claims.Verdict> requestVerdicts() {
    return requestVerdicts;
  }

  /** The full name of {@code baseName} (one of the constants) under {@code prefix}. */
  public static String name(String prefix, String baseName) {
    return checkPrefix(prefix) + baseName;
  }

  /**
   * The topics to create for a deployment under {@code prefix}, all with the same partitions (the
   * request-id verdicts return to their prompt's partition). All are append-only event logs
   * (cleanup policy delete, the broker's retention); prompts and tokens are the audit log that
   * replay reads, so give them a retention that covers the audit period.
   */
  public static List<NewTopic> newTopics(String prefix, int partitions, short replication) {
    Map<String, String> eventLog =
        Map.of(
            TopicConfig.CLEANUP_POLICY_CONFIG,
            TopicConfig.CLEANUP_POLICY_DELETE,
            // With replication >= 2, keep acknowledged events on two replicas.
            TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG,
            String.valueOf(Math.min(2, (int) replication)));
    return List.of(
            PROMPTS, TOKENS, COMPLETIONS, GENERATION_ERRORS, REQUEST_CLAIMS, REQUEST_VERDICTS)
        .stream()
        .map(base -> new NewTopic(name(prefix, base), partitions, replication).configs(eventLog))
        .toList();
  }

  private <V extends SpecificRecord> Topic<String, V> topic(
      String baseName, Class<V> type, SchemaRegistryClient registry, AvroSerdes.Config config) {
    return new Topic<>(
        prefix + baseName, Serdes.String(), AvroSerdes.specific(type, registry, config));
  }

  private static String checkPrefix(String prefix) {
    if (!prefix.isEmpty() && !LEGAL_NAME.matcher(prefix).matches()) {
      throw new IllegalArgumentException(
          "topic prefix '" + prefix + "' may only hold letters, digits, '.', '_' and '-'");
    }
    return prefix;
  }
}
