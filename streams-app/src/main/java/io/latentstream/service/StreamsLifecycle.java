package io.latentstream.service;

import io.micronaut.configuration.kafka.streams.event.BeforeKafkaStreamStart;
import io.micronaut.runtime.event.annotation.EventListener;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the service processing through transient failures and says when it is not. A bad record
 * never reaches here (the topology turns each into a {@code generation-errors} event); a stream
 * thread that fails anyway (the registry unreachable past the client's retries, a broker gone
 * mid-transaction) is replaced, its uncommitted work aborted and consumed again by the new thread,
 * so no record is dropped. A failure that repeats is not transient: after {@link #MAX_FAILURES}
 * within {@link #FAILURE_WINDOW} the client shuts down and the health checks report DOWN, for an
 * orchestrator to restart the instance rather than let it replace threads forever.
 */
@Singleton
public class StreamsLifecycle {
  private static final Logger LOG = LoggerFactory.getLogger(StreamsLifecycle.class);

  static final int MAX_FAILURES = 3;
  static final Duration FAILURE_WINDOW = Duration.ofMinutes(10);

  /** How long after a thread failure readiness stays DOWN: the replacement must prove itself. */
  static final Duration RECOVERY = Duration.ofSeconds(60);

  /** How long a thread may stay CREATED (never started) before the instance counts as stuck. */
  static final Duration STUCK = Duration.ofSeconds(30);

  private final Deque<Long> failures = new ArrayDeque<>();
  private final Map<String, Long> firstSeenCreated = new ConcurrentHashMap<>();
  private volatile KafkaStreams streams;

  @EventListener
  void beforeStart(BeforeKafkaStreamStart event) {
    attach(event.getKafkaStreams());
  }

  /** Watches {@code streams} (before it starts) and handles its stream threads' failures. */
  void attach(KafkaStreams streams) {
    this.streams = streams;
    streams.setUncaughtExceptionHandler(this::onThreadFailure);
  }

  private synchronized StreamThreadExceptionResponse onThreadFailure(Throwable error) {
    long now = System.currentTimeMillis();
    failures.addLast(now);
    while (!failures.isEmpty() && now - failures.peekFirst() > FAILURE_WINDOW.toMillis()) {
      failures.removeFirst();
    }
    if (failures.size() >= MAX_FAILURES) {
      LOG.error(
          "a stream thread failed {} times within {}: shutting the Kafka Streams client down;"
              + " health is DOWN until the instance is restarted",
          failures.size(),
          FAILURE_WINDOW,
          error);
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    }
    LOG.error("a stream thread failed; replacing it", error);
    return StreamThreadExceptionResponse.REPLACE_THREAD;
  }

  /** The instance's processing as the health checks see it. */
  record Status(boolean ready, boolean live, String reason, Map<String, Object> details) {}

  /**
   * Ready: the client is RUNNING or REBALANCING, every stream thread alive and none stuck
   * unstarted, no thread failure in the last {@link #RECOVERY}. Live: the client is not shutting
   * down or failed, and no thread is stuck; a restart would not help otherwise.
   */
  synchronized Status status() {
    KafkaStreams s = streams;
    Map<String, Object> details = new LinkedHashMap<>();
    if (s == null) {
      return new Status(false, true, "Kafka Streams has not started", details);
    }
    long now = System.currentTimeMillis();
    KafkaStreams.State state = s.state();
    details.put("state", state.name());
    Map<String, String> threads = new LinkedHashMap<>();
    String stuck = null;
    for (ThreadMetadata t : s.metadataForLocalThreads()) {
      threads.put(t.threadName(), t.threadState() + ", " + t.activeTasks().size() + " tasks");
      if ("CREATED".equals(t.threadState())) {
        long since = firstSeenCreated.computeIfAbsent(t.threadName(), k -> now);
        if (now - since > STUCK.toMillis()) {
          stuck = t.threadName();
        }
      } else {
        firstSeenCreated.remove(t.threadName());
      }
    }
    details.put("threads", threads);
    Long lastFailure = failures.peekLast();
    details.put("threadFailures", failures.size());
    boolean live =
        stuck == null
            && state != KafkaStreams.State.ERROR
            && state != KafkaStreams.State.PENDING_ERROR
            && state != KafkaStreams.State.PENDING_SHUTDOWN
            && state != KafkaStreams.State.NOT_RUNNING;
    String reason;
    if (stuck != null) {
      reason = "stream thread " + stuck + " has not started for " + STUCK.toSeconds() + " s";
    } else if (state != KafkaStreams.State.RUNNING && state != KafkaStreams.State.REBALANCING) {
      reason = "Kafka Streams is " + state;
    } else if (threads.isEmpty()) {
      reason = "no stream thread is running";
    } else if (lastFailure != null && now - lastFailure < RECOVERY.toMillis()) {
      reason = "a stream thread failed " + (now - lastFailure) / 1000 + " s ago";
    } else {
      reason = null;
    }
    return new Status(reason == null, live, reason, details);
  }
}
