package io.latentstream.topology;

import io.latentstream.events.OutputEvents;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * What the decode node hands generate for each record of its input: a prompt that passed every
 * check that needs no state, a record refused, or the verdict on one of the task's claims.
 */
sealed interface Arrival {

  /**
   * A valid prompt; {@code bytes}, its record's value, are echoed should generate refuse it (a
   * duplicate request id, a context the session's history overflows).
   */
  record Prompt(ValidPrompt prompt, byte[] bytes) implements Arrival {}

  /** The verdict on a claim of this task ({@link Claims}). */
  record Verdict(Claims.Verdict verdict) implements Arrival {}

  /**
   * A consumed prompts record the service refuses, as the error event that names it, for the {@code
   * generation-errors} of {@code tenant} (null where tenants have no topics apart).
   */
  record Refused(String tenant, GenerationError error) implements Arrival {

    /**
     * The refusal of the record at {@code source} ({@code key}, {@code value}): the error names it
     * and carries its original bytes, up to a quarter of the output limit (the broker may accept
     * records larger than our producer may send); a request id over {@code maxIdBytes} is not
     * repeated (the echoed bytes hold its start).
     */
    static Refused of(
        String tenant,
        String requestId,
        ErrorCode code,
        String message,
        RecordMetadata source,
        String key,
        byte[] value,
        TopologySettings settings,
        Instant at) {
      if (requestId != null
          && PromptValidator.utf8Length(requestId) > settings.limits().maxIdBytes()) {
        requestId = null;
      }
      int budget = settings.maxOutputRecordBytes() / 4;
      byte[] keyBytes = key == null ? null : key.getBytes(StandardCharsets.UTF_8);
      int keyEcho = keyBytes == null ? 0 : Math.min(keyBytes.length, budget);
      int valueEcho = value == null ? 0 : Math.min(value.length, budget - keyEcho);
      if ((keyBytes != null && keyEcho < keyBytes.length)
          || (value != null && valueEcho < value.length)) {
        message +=
            String.format(
                " (echoed: the first %d of %d key bytes, %d of %d value bytes)",
                keyEcho,
                keyBytes == null ? 0 : keyBytes.length,
                valueEcho,
                value == null ? 0 : value.length);
      }
      GenerationError error =
          OutputEvents.error(requestId, code, message, at)
              .setSourceTopic(source.topic())
              .setSourcePartition(source.partition())
              .setSourceOffset(source.offset())
              .setOriginalKey(keyBytes == null ? null : ByteBuffer.wrap(keyBytes, 0, keyEcho))
              .setOriginalValue(value == null ? null : ByteBuffer.wrap(value, 0, valueEcho))
              .build();
      return new Refused(tenant, error);
    }
  }
}
