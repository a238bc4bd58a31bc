package io.latentstream.service;

import io.micronaut.configuration.kafka.streams.event.BeforeKafkaStreamStart;
import io.micronaut.runtime.event.annotation.EventListener;
import jakarta.inject.Singleton;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the service processing through transient failures. A stream thread that fails (the registry
 * unreachable for longer than the client's retries, a broker gone mid-transaction) is replaced
 * rather than taking the instance down: its uncommitted work is aborted and consumed again by the
 * new thread, so no record is dropped.
 */
@Singleton
public class StreamsLifecycle {
  private static final Logger LOG = LoggerFactory.getLogger(StreamsLifecycle.class);

  @EventListener
  void beforeStart(BeforeKafkaStreamStart event) {
    event
        .getKafkaStreams()
        .setUncaughtExceptionHandler(
            error -> {
              LOG.error("a stream thread failed; replacing it", error);
              return StreamThreadExceptionResponse.REPLACE_THREAD;
            });
  }
}
