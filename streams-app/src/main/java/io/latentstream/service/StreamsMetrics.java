package io.latentstream.service;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micronaut.configuration.kafka.streams.event.BeforeKafkaStreamStart;
import io.micronaut.runtime.event.annotation.EventListener;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Singleton;

/**
 * Kafka Streams' own metrics (its threads, tasks, stores, producer and consumers) in the service's
 * registry, as {@code kafka.stream.*}, {@code kafka.producer.*} and {@code kafka.consumer.*}: one
 * binding, Micrometer's, which keys each meter by its metric group as well as its name, so the
 * thread's, task's and node's {@code process-rate} stay apart. (micronaut-kafka's binder, off in
 * application.yml, keys them by name alone: they collide, and Prometheus refuses the duplicates
 * with a warning per meter at every start.)
 */
@Singleton
public class StreamsMetrics {
  private final MeterRegistry registry;
  private KafkaStreamsMetrics bound;

  StreamsMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  @EventListener
  synchronized void beforeStart(BeforeKafkaStreamStart event) {
    close();
    bound = new KafkaStreamsMetrics(event.getKafkaStreams());
    bound.bindTo(registry);
  }

  @PreDestroy
  synchronized void close() {
    if (bound != null) {
      bound.close();
      bound = null;
    }
  }
}
