package io.latentstream.registry.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;

/**
 * The Confluent wire format, which every Confluent-compatible producer and consumer speaks: one
 * magic byte {@code 0}, the writer schema's registry id as a 4-byte big-endian int, then the record
 * in Avro binary encoding (no container header, no schema).
 */
public final class WireFormat {
  public static final byte MAGIC_BYTE = 0;

  /** Magic byte plus schema id. */
  public static final int HEADER_SIZE = 5;

  private WireFormat() {}

  /** Frames {@code record} (written with its own schema) under {@code schemaId}. */
  public static byte[] encode(int schemaId, SpecificRecord record) {
    DatumWriter<SpecificRecord> writer =
        new SpecificDatumWriter<>(record.getSchema(), SpecificData.getForClass(record.getClass()));
    return encode(schemaId, writer, record);
  }

  /** Frames {@code record} with a prepared writer (reused by the serializer). */
  static <T> byte[] encode(int schemaId, DatumWriter<T> writer, T record) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    out.write(MAGIC_BYTE);
    out.write(schemaId >>> 24);
    out.write(schemaId >>> 16);
    out.write(schemaId >>> 8);
    out.write(schemaId);
    try {
      BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
      writer.write(record, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
    }
    return out.toByteArray();
  }

  /**
   * The schema id of a framed record.
   *
   * @throws RecordDecodingException {@code UNDECODABLE} when shorter than the header, {@code
   *     WRONG_MAGIC_BYTE} when it does not start with 0
   */
  public static int schemaId(byte[] framed) {
    if (framed.length < HEADER_SIZE) {
      throw new RecordDecodingException(
          RecordDecodingException.Code.UNDECODABLE,
          "record of " + framed.length + " bytes is shorter than the 5-byte wire-format header",
          framed,
          null);
    }
    if (framed[0] != MAGIC_BYTE) {
      throw new RecordDecodingException(
          RecordDecodingException.Code.WRONG_MAGIC_BYTE,
          String.format("first byte is 0x%02x, not the magic byte 0x00", framed[0] & 0xff),
          framed,
          null);
    }
    return ByteBuffer.wrap(framed, 1, 4).getInt();
  }
}
