package io.latentstream.service;

import io.latentstream.registry.client.AvroSerdes;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.LatentstreamTopology;
import io.latentstream.topology.PipelineObserver;
import io.latentstream.topology.Topics;
import io.latentstream.topology.TopologySettings;
import io.micronaut.configuration.kafka.streams.ConfiguredStreamBuilder;
import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Factory;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.kstream.KStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires the service: the served model, the registry client, the topics and the topology. */
@Factory
public class ServiceFactory {
  private static final Logger LOG = LoggerFactory.getLogger(ServiceFactory.class);

  /** The engine the model runs on ({@code latentstream.backend}: cpu, cuda or auto). */
  @Singleton
  @Bean(preDestroy = "close")
  Backends.Loaded engine(ServiceConfig config) throws IOException {
    return Backends.load(
        config.backend(),
        Path.of(config.modelPath()),
        Backends.CudaSizes.forLoop(
            config.maxRunning(), config.maxStepTokens(), config.cuda().cacheMemory()));
  }

  @Singleton
  @Bean(preDestroy = "close")
  ServedModel servedModel(ServiceConfig config, Backends.Loaded engine) {
    Path dir = Path.of(config.modelPath());
    String modelId =
        config.modelId() == null || config.modelId().isBlank()
            ? dir.toAbsolutePath().normalize().getFileName().toString()
            : config.modelId();
    return ServedModel.serve(
        engine.engine(),
        dir,
        modelId,
        new GenerationLoop.Settings(
            config.maxRunning(), config.maxStepTokens(), config.mtpDrafting()));
  }

  @Singleton
  @Bean(preDestroy = "close")
  SchemaRegistryClient schemaRegistryClient(ServiceConfig config) {
    // Through Confluent's client keys, so the service reads its settings as the CLI's
    // --command-config and Confluent's serializers do.
    Map<String, Object> properties = new HashMap<>();
    properties.put(RegistryClientConfig.URL, config.schemaRegistryUrl());
    putIfSet(
        properties, RegistryClientConfig.BASIC_AUTH_USER_INFO, config.schemaRegistryBasicAuth());
    ServiceConfig.RegistrySsl ssl = config.schemaRegistrySsl();
    if (ssl != null) {
      putIfSet(properties, RegistryClientConfig.SSL_TRUSTSTORE_LOCATION, ssl.truststoreLocation());
      putIfSet(properties, RegistryClientConfig.SSL_TRUSTSTORE_PASSWORD, ssl.truststorePassword());
      putIfSet(properties, RegistryClientConfig.SSL_KEYSTORE_LOCATION, ssl.keystoreLocation());
      putIfSet(properties, RegistryClientConfig.SSL_KEYSTORE_PASSWORD, ssl.keystorePassword());
      putIfSet(properties, RegistryClientConfig.SSL_KEY_PASSWORD, ssl.keyPassword());
    }
    RegistryClientConfig registry = RegistryClientConfig.fromProperties(properties);
    LOG.info("Schema registry client: {}", registry);
    return new SchemaRegistryClient(registry);
  }

  /** Empty placeholders (an unset variable) mean unset. */
  private static void putIfSet(Map<String, Object> properties, String key, String value) {
    if (value != null && !value.isBlank()) {
      properties.put(key, value);
    }
  }

  @Singleton
  Topics topics(ServiceConfig config, SchemaRegistryClient registry) {
    return Topics.create(
        config.topicPrefix(), config.tenantsApart(), registry, AvroSerdes.Config.VALUES);
  }

  /** The topology on Micronaut's default stream ({@code kafka.streams.default.*}). */
  @Singleton
  KStream<String, Object> latentstream(
      ConfiguredStreamBuilder builder,
      Topics topics,
      ServedModel model,
      ServiceConfig config,
      List<PipelineObserver> observers) {
    return LatentstreamTopology.build(
        builder,
        topics,
        model,
        new TopologySettings(
            config.limits(),
            config.emitInterval(),
            config.sessionTtl(),
            config.sessionCacheMaxBytes(),
            config.requestIdRetention(),
            config.maxWaiting(),
            config.maxOutputRecordBytes(),
            config.tokenEvents()),
        PipelineObserver.all(observers));
  }
}
