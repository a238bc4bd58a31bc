package io.latentstream.topology;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The messages that make a request id generate at most once, whatever key or partition its prompts
 * arrive with. A prompt's task (partitioned by session) accepts it, then claims its id: a {@link
 * Claim} goes to {@code request-claims}, keyed and so partitioned by request id, where {@link
 * DeduplicationProcessor} grants the first claim of an id and denies any other; the {@link Verdict}
 * returns on {@code request-verdicts} to the partition the prompt came from (its task), which then
 * generates or refuses. A claim is identified by its prompt's place in the log, so claiming again
 * after a failover gets the same verdict.
 */
public final class Claims {
  private static final byte FORMAT_VERSION = 1;

  private Claims() {}

  /**
   * A task's claim of a request id for the prompt at {@code offset} of {@code partition} of {@code
   * prompts}. The {@code requestKey} is the id, within its tenant where tenants have topics of
   * their own ({@code tenant/id}): each tenant's ids are apart.
   */
  public record Claim(String requestKey, int partition, long offset) {
    /** Whether this claim is for the same prompt as {@code other} (a retry, not a duplicate). */
    boolean samePrompt(Claim other) {
      return partition == other.partition && offset == other.offset;
    }
  }

  /** The answer to a claim: granted to its prompt, or denied (the id was granted to another). */
  public record Verdict(Claim claim, boolean granted) {}

  public static Serde<Claim> claimSerde() {
    return Serdes.serdeFrom(
        (topic, claim) -> claim == null ? null : encode(claim, (byte) -1),
        (topic, bytes) -> bytes == null ? null : decode(bytes).claim());
  }

  public static Serde<Verdict> verdictSerde() {
    return Serdes.serdeFrom(
        (topic, verdict) ->
            verdict == null ? null : encode(verdict.claim(), (byte) (verdict.granted() ? 1 : 0)),
        (topic, bytes) -> bytes == null ? null : decode(bytes));
  }

  /** version, partition, offset, granted (-1 in a claim), request key (UTF-8). */
  private static byte[] encode(Claim claim, byte granted) {
    byte[] id = claim.requestKey().getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(1 + 4 + 8 + 1 + id.length)
        .put(FORMAT_VERSION)
        .putInt(claim.partition())
        .putLong(claim.offset())
        .put(granted)
        .put(id)
        .array();
  }

  private static Verdict decode(byte[] bytes) {
    ByteBuffer in = ByteBuffer.wrap(bytes);
    if (bytes.length < 14 || in.get() != FORMAT_VERSION) {
      throw new SerializationException("not a request-id claim or verdict of this version");
    }
    int partition = in.getInt();
    long offset = in.getLong();
    byte granted = in.get();
    String id = new String(bytes, 14, bytes.length - 14, StandardCharsets.UTF_8);
    return new Verdict(new Claim(id, partition, offset), granted == 1);
  }
}
