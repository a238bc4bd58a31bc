package io.latentstream.service;

import io.latentstream.schemas.TokenEventForm;
import io.latentstream.topology.PromptLimits;
import io.micronaut.context.annotation.ConfigurationProperties;
import io.micronaut.core.annotation.Nullable;
import java.time.Duration;
import java.util.List;

/**
 * The service's own settings ({@code latentstream.*} in application.yml; every key can be set from
 * the environment, e.g. {@code LATENTSTREAM_MODEL_PATH}). Kafka's own settings live under {@code
 * kafka.*}, the Streams ones under {@code kafka.streams.default.*}.
 *
 * @param modelPath the checkpoint directory (config.json, safetensors, tokenizer files)
 * @param modelId the name events carry; defaults to the directory's name
 * @param backend {@code cpu}; {@code cuda}, the forward pass on the GPU (refusing to start without
 *     one); or {@code auto}, CUDA where a GPU, its driver and the PTX are present, else the CPU
 *     with a log line saying why
 * @param cuda the CUDA engine's settings
 * @param topicPrefix prefix of every topic name, to share a cluster between deployments
 * @param tenants tenants with event topics of their own ({@code <prefix><tenant>.prompts}, ...),
 *     each prompt's tenant the topic it came from; empty: one set of topics, the tenant a field
 * @param schemaRegistryUrl comma-separated registry URLs
 * @param schemaRegistryBasicAuth {@code user:password} for the registry, or empty
 * @param schemaRegistrySsl TLS to an https registry, beyond what the JVM trusts
 * @param maxRunning most sequences per engine step
 * @param maxStepTokens most tokens per engine step (prefill chunks are cut to fit)
 * @param mtpDrafting whether to draft tokens with Multi-Token Prediction (when the model has it)
 * @param maxNewTokensLimit the largest max_new_tokens a prompt may ask for
 * @param promptLimits sizes of a prompt's ids, stop strings, metadata and input
 * @param emitInterval how often generated tokens are forwarded to Kafka
 * @param sessionTtl sessions unused this long are evicted
 * @param sessionCacheMaxBytes the latent caches of one task's sessions take at most this much
 * @param requestIdRetention how long completed request ids are kept to refuse duplicates
 * @param maxWaiting requests the generation loop may hold beyond maxRunning, waiting to run
 * @param maxOutputRecordBytes the most one output event may take (at most the producer's
 *     max.request.size and the topics' max.message.bytes)
 * @param tokenEvents {@code token} (one event per token on {@code tokens}) or {@code chunk} (one
 *     per request per emit interval on {@code token-chunks}), for requests that choose no form
 * @param httpCredentials {@code user:password} for the HTTP endpoints ({@link HttpCredentials})
 */
@ConfigurationProperties("latentstream")
public record ServiceConfig(
    String modelPath,
    String modelId,
    String backend,
    CudaConfig cuda,
    String topicPrefix,
    @Nullable List<String> tenants,
    String schemaRegistryUrl,
    String schemaRegistryBasicAuth,
    RegistrySsl schemaRegistrySsl,
    int maxRunning,
    int maxStepTokens,
    boolean mtpDrafting,
    int maxNewTokensLimit,
    PromptLimitsConfig promptLimits,
    Duration emitInterval,
    Duration sessionTtl,
    long sessionCacheMaxBytes,
    Duration requestIdRetention,
    int maxWaiting,
    int maxOutputRecordBytes,
    TokenEventForm tokenEvents,
    @Nullable String httpCredentials) {

  /**
   * The registry client's trust store (the registry's certificate or its CA) and key store (a
   * client certificate, for registries that require mutual TLS), JKS or PKCS12 files; a blank
   * location is unset. The passwords are secrets: set them from the environment.
   */
  /**
   * {@code latentstream.cuda.*}: {@code cache-memory}, the device memory for the latent pages of
   * every sequence together (requests wait for pages when they are all taken).
   */
  @ConfigurationProperties("cuda")
  public record CudaConfig(long cacheMemory) {}

  /** {@code latentstream.prompt-limits.*}: see {@link PromptLimits}. */
  @ConfigurationProperties("prompt-limits")
  public record PromptLimitsConfig(
      int maxIdBytes,
      int maxStopStrings,
      int maxStopBytes,
      int maxMetadataEntries,
      int maxMetadataBytes,
      int maxInputBytes) {}

  /** The tenants with topics of their own; none when unset. */
  public List<String> tenantsApart() {
    return tenants == null ? List.of() : tenants;
  }

  /** The prompt limits, max_new_tokens's with the rest. */
  public PromptLimits limits() {
    PromptLimitsConfig l = promptLimits;
    return new PromptLimits(
        maxNewTokensLimit,
        l.maxIdBytes(),
        l.maxStopStrings(),
        l.maxStopBytes(),
        l.maxMetadataEntries(),
        l.maxMetadataBytes(),
        l.maxInputBytes());
  }

  @ConfigurationProperties("schema-registry-ssl")
  public record RegistrySsl(
      @Nullable String truststoreLocation,
      @Nullable String truststorePassword,
      @Nullable String keystoreLocation,
      @Nullable String keystorePassword,
      @Nullable String keyPassword) {}
}
