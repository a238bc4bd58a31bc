package io.latentstream.topology;

import io.latentstream.registry.client.AvroSerdes;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.GenerationError;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import java.util.ArrayList;
import java.util.Collections;
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
 *
 * <p>A deployment may serve <b>tenants</b>, each with its own event topics ({@code
 * <prefix><tenant>.prompts}, {@code .tokens}, {@code .token-chunks}, {@code .completions}, {@code
 * .generation-errors}) that ACLs give to that tenant's principals alone: the tenant of a prompt is
 * then the topic it came from, never what its payload claims, and its outputs go to its tenant's
 * topics. {@link #tenant(String)} is one tenant's view (what its clients and auditors use). A
 * deployment without tenants has one set of event topics under the prefix, and a prompt's tenant is
 * its field. The claim topics are the service's own, one pair per deployment.
 */
public final class Topics {
  /** Prompt events in: {@link PromptRequest}, keyed by session id, else request id. */
  public static final String PROMPTS = "prompts";

  /**
   * One event per generated token: {@link TokenEvent}, keyed by request id; the tokens of requests
   * whose token events are of form {@code TOKEN}.
   */
  public static final String TOKENS = "tokens";

  /**
   * One event per emit of a request's tokens: {@link TokenChunk}, keyed by request id; the tokens
   * of requests whose token events are of form {@code CHUNK}. A topic apart from {@link #TOKENS},
   * so that each topic's subject keeps one schema and consumers of either form are undisturbed.
   */
  public static final String TOKEN_CHUNKS = "token-chunks";

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

  /** A tenant's name: a topic-name part without '.', so that prefix and tenant stay apart. */
  private static final Pattern TENANT_NAME = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_-]*");

  /** The event topics, each a tenant has its own of. */
  private static final List<String> EVENT_TOPICS =
      List.of(PROMPTS, TOKENS, TOKEN_CHUNKS, COMPLETIONS, GENERATION_ERRORS);

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
  private final List<String> tenants;
  private final String tenant;
  private final SchemaRegistryClient registry;
  private final AvroSerdes.Config serdeConfig;
  private final Topic<String, PromptRequest> prompts;
  private final Topic<String, TokenEvent> tokens;
  private final Topic<String, TokenChunk> tokenChunks;
  private final Topic<String, Completion> completions;
  private final Topic<String, GenerationError> generationErrors;
  private final Topic<String, Claims.Claim> requestClaims;
  private final Topic<String, Claims.Verdict> requestVerdicts;

  /**
   * The topics of the deployment under {@code prefix} serving {@code tenants} (none: one set of
   * event topics), seen as {@code tenant} (null: as the service).
   */
  private Topics(
      String prefix,
      List<String> tenants,
      String tenant,
      SchemaRegistryClient registry,
      AvroSerdes.Config serdeConfig) {
    this.prefix = checkPrefix(prefix);
    this.tenants = List.copyOf(tenants);
    this.tenants.forEach(Topics::checkTenant);
    if (this.tenants.stream().distinct().count() < this.tenants.size()) {
      throw new IllegalArgumentException("a tenant is named twice in " + tenants);
    }
    this.tenant = tenant == null ? null : checkTenant(tenant);
    this.registry = registry;
    this.serdeConfig = serdeConfig;
    this.prompts = topic(eventTopic(tenant, PROMPTS), PromptRequest.class);
    this.tokens = topic(eventTopic(tenant, TOKENS), TokenEvent.class);
    this.tokenChunks = topic(eventTopic(tenant, TOKEN_CHUNKS), TokenChunk.class);
    this.completions = topic(eventTopic(tenant, COMPLETIONS), Completion.class);
    this.generationErrors = topic(eventTopic(tenant, GENERATION_ERRORS), GenerationError.class);
    this.requestClaims = new Topic<>(prefix + REQUEST_CLAIMS, Serdes.String(), Claims.claimSerde());
    this.requestVerdicts =
        new Topic<>(prefix + REQUEST_VERDICTS, Serdes.String(), Claims.verdictSerde());
  }

  /** The topics under {@code prefix}, with serdes that register schemas on first use. */
  public static Topics create(String prefix, SchemaRegistryClient registry) {
    return create(prefix, registry, AvroSerdes.Config.VALUES);
  }

  public static Topics create(
      String prefix, SchemaRegistryClient registry, AvroSerdes.Config serdeConfig) {
    return new Topics(prefix, List.of(), null, registry, serdeConfig);
  }

  /** The topics of a deployment under {@code prefix} that serves {@code tenants}, each apart. */
  public static Topics create(
      String prefix,
      List<String> tenants,
      SchemaRegistryClient registry,
      AvroSerdes.Config serdeConfig) {
    return new Topics(prefix, tenants, null, registry, serdeConfig);
  }

  /**
   * One tenant's view: its own event topics ({@code <prefix><tenant>.prompts}, ...), what its
   * publishers, consumers and auditors use.
   */
  public Topics tenant(String name) {
    return new Topics(prefix, tenants, name, registry, serdeConfig);
  }

  public String prefix() {
    return prefix;
  }

  /** The tenants the deployment serves, each with its own event topics; empty: none apart. */
  public List<String> tenants() {
    return tenants;
  }

  /** The tenant this view is of, or null for the service's view. */
  public String viewTenant() {
    return tenant;
  }

  /**
   * The name of event topic {@code baseName} (one of the constants) of {@code tenant}, or of the
   * deployment's own where {@code tenant} is null.
   */
  public String eventTopic(String tenant, String baseName) {
    return eventTopic(prefix, tenant, baseName);
  }

  private static String eventTopic(String prefix, String tenant, String baseName) {
    return tenant == null ? prefix + baseName : prefix + tenant + "." + baseName;
  }

  /** The topics the service reads prompts from: one per tenant, or the one prompts topic. */
  public List<String> promptTopics() {
    return tenants.isEmpty()
        ? List.of(eventTopic(null, PROMPTS))
        : tenants.stream().map(t -> eventTopic(t, PROMPTS)).toList();
  }

  /**
   * The tenant whose prompts {@code topic} holds, or null where the deployment has no tenants apart
   * (a prompt's tenant is then its field).
   */
  public String tenantOfPrompts(String topic) {
    for (String t : tenants) {
      if (topic.equals(eventTopic(t, PROMPTS))) {
        return t;
      }
    }
    if (tenants.isEmpty() && topic.equals(eventTopic(null, PROMPTS))) {
      return null;
    }
    throw new IllegalArgumentException(topic + " is not a prompts topic of this deployment");
  }

  public Topic<String, PromptRequest> prompts() {
    return prompts;
  }

  public Topic<String, TokenEvent> tokens() {
    return tokens;
  }

  public Topic<String, TokenChunk> tokenChunks() {
    return tokenChunks;
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
   * replay reads (tokens and token-chunks, whichever form requests chose), so give them a retention
   * that covers the audit period.
   */
  public static List<NewTopic> newTopics(String prefix, int partitions, short replication) {
    return newTopics(prefix, List.of(), partitions, replication);
  }

  /**
   * As {@link #newTopics(String, int, short)}, for a deployment serving {@code tenants}: each
   * tenant's event topics, and the claim topics once.
   */
  public static List<NewTopic> newTopics(
      String prefix, List<String> tenants, int partitions, short replication) {
    checkPrefix(prefix);
    tenants.forEach(Topics::checkTenant);
    List<String> names = new ArrayList<>();
    for (String tenant : tenants.isEmpty() ? Collections.<String>singletonList(null) : tenants) {
      EVENT_TOPICS.forEach(base -> names.add(eventTopic(prefix, tenant, base)));
    }
    names.add(prefix + REQUEST_CLAIMS);
    names.add(prefix + REQUEST_VERDICTS);
    Map<String, String> eventLog =
        Map.of(
            TopicConfig.CLEANUP_POLICY_CONFIG,
            TopicConfig.CLEANUP_POLICY_DELETE,
            // With replication >= 2, keep acknowledged events on two replicas.
            TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG,
            String.valueOf(Math.min(2, (int) replication)));
    return names.stream()
        .map(name -> new NewTopic(name, partitions, replication).configs(eventLog))
        .toList();
  }

  private <V extends SpecificRecord> Topic<String, V> topic(String name, Class<V> type) {
    return new Topic<>(name, Serdes.String(), AvroSerdes.specific(type, registry, serdeConfig));
  }

  private static String checkTenant(String tenant) {
    if (tenant == null || !TENANT_NAME.matcher(tenant).matches()) {
      throw new IllegalArgumentException(
          "tenant '"
              + tenant
              + "' may only hold letters, digits, '_' and '-', and starts with a letter or digit");
    }
    return tenant;
  }

  private static String checkPrefix(String prefix) {
    if (!prefix.isEmpty() && !LEGAL_NAME.matcher(prefix).matches()) {
      throw new IllegalArgumentException(
          "topic prefix '" + prefix + "' may only hold letters, digits, '.', '_' and '-'");
    }
    return prefix;
  }
}
