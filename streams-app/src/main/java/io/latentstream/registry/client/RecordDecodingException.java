package io.latentstream.registry.client;

import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.GenerationError;
import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.kafka.common.errors.SerializationException;

/**
 * A record value that could not be turned into a typed record. It keeps the original bytes and a
 * stable code, so the topology can publish a {@code GenerationError} for it (the codes are symbols
 * of the schema's {@code ErrorCode} with the same names) and go on with the next record.
 */
public final class RecordDecodingException extends SerializationException {
  /** What was wrong with the bytes. */
  public enum Code {
    /**
     * Not Avro of the announced schema: truncated, corrupted, trailing bytes, or a foreign type.
     */
    UNDECODABLE,
    /** The first byte is not the wire format's magic byte 0. */
    WRONG_MAGIC_BYTE,
    /** The registry does not know the schema id in the header. */
    UNKNOWN_SCHEMA_ID,
    /**
     * The registry stayed unreachable for the whole retry time. Transient: the record itself may be
     * fine, so it must be retried, not reported as bad input.
     */
    REGISTRY_UNAVAILABLE
  }

  private final Code code;
  private final byte[] originalBytes;

  public RecordDecodingException(Code code, String message, byte[] originalBytes, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
    this.originalBytes = originalBytes;
  }

  public Code code() {
    return code;
  }

  /** The code to publish in a {@code GenerationError}. */
  public ErrorCode errorCode() {
    return ErrorCode.valueOf(code.name());
  }

  /**
   * The {@code GenerationError} that reports this failure for the record at {@code topic}/{@code
   * partition}/{@code offset}, carrying its original key and value bytes.
   */
  public GenerationError toGenerationError(
      String topic, int partition, long offset, byte[] originalKey, Instant occurredAt) {
    return GenerationError.newBuilder()
        .setCode(errorCode())
        .setMessage(getMessage())
        .setSourceTopic(topic)
        .setSourcePartition(partition)
        .setSourceOffset(offset)
        .setOriginalKey(originalKey == null ? null : ByteBuffer.wrap(originalKey))
        .setOriginalValue(originalBytes == null ? null : ByteBuffer.wrap(originalBytes))
        .setOccurredAt(occurredAt)
        .build();
  }

  /** The bytes as consumed (not copied: do not modify). */
  public byte[] originalBytes() {
    return originalBytes;
  }
}
