package io.latentstream.service;

import io.micronaut.health.HealthStatus;
import io.micronaut.management.health.indicator.HealthIndicator;
import io.micronaut.management.health.indicator.HealthResult;
import io.micronaut.management.health.indicator.annotation.Liveness;
import io.micronaut.management.health.indicator.annotation.Readiness;
import jakarta.inject.Singleton;
import java.util.LinkedHashMap;
import java.util.Map;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Mono;

/**
 * The stream processing's health ({@link StreamsLifecycle#status}): in {@code /health} and {@code
 * /health/readiness}, DOWN unless Kafka Streams is RUNNING or REBALANCING with every thread alive;
 * {@link Live} in {@code /health/liveness}, DOWN when only a restart can help.
 */
@Singleton
@Readiness
public class StreamsHealth implements HealthIndicator {
  private final StreamsLifecycle lifecycle;

  StreamsHealth(StreamsLifecycle lifecycle) {
    this.lifecycle = lifecycle;
  }

  @Override
  public Publisher<HealthResult> getResult() {
    StreamsLifecycle.Status s = lifecycle.status();
    return Mono.just(result("streams", s.ready(), s));
  }

  static HealthResult result(String name, boolean up, StreamsLifecycle.Status s) {
    Map<String, Object> details = new LinkedHashMap<>(s.details());
    if (s.reason() != null) {
      details.put("reason", s.reason());
    }
    return HealthResult.builder(name, up ? HealthStatus.UP : HealthStatus.DOWN)
        .details(details)
        .build();
  }

  /** Liveness: DOWN when the client failed or shut down, or a thread is stuck unstarted. */
  @Singleton
  @Liveness
  public static class Live implements HealthIndicator {
    private final StreamsLifecycle lifecycle;

    Live(StreamsLifecycle lifecycle) {
      this.lifecycle = lifecycle;
    }

    @Override
    public Publisher<HealthResult> getResult() {
      StreamsLifecycle.Status s = lifecycle.status();
      return Mono.just(result("streams-liveness", s.live(), s));
    }
  }
}
