package io.latentstream.topology;

import io.latentstream.topology.Claims.Claim;
import io.latentstream.topology.Claims.Verdict;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Grants each request id to the first prompt that claims it and denies it to every other, for
 * {@code request-id-retention}: one task per partition of {@code request-claims}, which is keyed by
 * request id, so every claim of an id, from whichever partition of {@code prompts}, meets the same
 * entry of the {@code request-ids} store. A second claim for the same prompt (its task claiming
 * again after a failover) is granted again. Each verdict is forwarded, keyed by request id (within
 * its tenant where tenants have topics of their own: {@link Claims.Claim#requestKey}).
 */
final class DeduplicationProcessor implements Processor<String, Claim, String, Verdict> {
  private final TopologySettings settings;
  private final PipelineObserver observer;
  private ProcessorContext<String, Verdict> context;
  private KeyValueStore<String, byte[]> granted;

  DeduplicationProcessor(TopologySettings settings, PipelineObserver observer) {
    this.settings = settings;
    this.observer = observer;
  }

  @Override
  public void init(ProcessorContext<String, Verdict> context) {
    this.context = context;
    this.granted = context.getStateStore(StoreNames.REQUEST_IDS);
    context.schedule(settings.evictionInterval(), PunctuationType.WALL_CLOCK_TIME, this::evict);
  }

  @Override
  public void process(Record<String, Claim> record) {
    Claim claim = record.value();
    if (claim == null) {
      return;
    }
    byte[] entry = granted.get(claim.requestKey());
    boolean grant;
    if (entry == null) {
      granted.put(claim.requestKey(), entry(claim, context.currentSystemTimeMs()));
      grant = true;
    } else {
      grant = claim.samePrompt(claimOf(claim.requestKey(), entry));
    }
    context.forward(record.withValue(new Verdict(claim, grant)));
  }

  /** The granted prompt's partition and offset, and when the grant was made. */
  private static byte[] entry(Claim claim, long now) {
    return ByteBuffer.allocate(20)
        .putInt(claim.partition())
        .putLong(claim.offset())
        .putLong(now)
        .array();
  }

  private static Claim claimOf(String requestKey, byte[] entry) {
    ByteBuffer in = ByteBuffer.wrap(entry);
    return new Claim(requestKey, in.getInt(), in.getLong());
  }

  private static long grantedAt(byte[] entry) {
    return ByteBuffer.wrap(entry, 12, 8).getLong();
  }

  /** Forgets ids granted longer than the retention ago: they may be used again. */
  private void evict(long now) {
    List<String> expired = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> it = granted.all()) {
      while (it.hasNext()) {
        KeyValue<String, byte[]> next = it.next();
        if (now - grantedAt(next.value) > settings.requestIdRetention().toMillis()) {
          expired.add(next.key);
        }
      }
    }
    expired.forEach(granted::delete);
    if (!expired.isEmpty()) {
      observer.evicted(0, 0, expired.size());
    }
  }
}
