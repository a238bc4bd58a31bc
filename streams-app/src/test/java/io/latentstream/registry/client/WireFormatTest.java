package io.latentstream.registry.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.TokenEvent;
import java.time.Instant;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Pins the Confluent wire format byte for byte, so we stay readable by every other client. */
class WireFormatTest {
  /** A token event exercising every Avro encoding its schema uses. */
  static TokenEvent knownTokenEvent() {
    return TokenEvent.newBuilder()
        .setRequestId("r1")
        .setSessionId("s")
        .setIndex(3)
        .setTokenId(300)
        .setTextDelta("é")
        .setLogprob(-0.5f)
        .setFromMtpDraft(true)
        .setFinishReason(FinishReason.LENGTH)
        .setModelId("m")
        .setWeightsDigest("d")
        .setProducedAt(Instant.ofEpochMilli(1))
        .build();
  }

  static final byte[] KNOWN_TOKEN_EVENT_AS_ID_7 =
      bytes(
          0x00, // magic byte
          0x00, 0x00, 0x00, 0x07, // schema id 7, big-endian
          0x04, 'r', '1', // request_id: length 2 (zig-zag 4), "r1"
          0x02, 0x02, 's', // session_id: union branch 1 (string), length 1, "s"
          0x06, // index 3
          0xD8, 0x04, // token_id 300: zig-zag 600 as a varint
          0x04, 0xC3, 0xA9, // text_delta: 2 UTF-8 bytes of "é"
          0x02, 0x00, 0x00, 0x00, 0xBF, // logprob: branch 1 (float), -0.5f little-endian
          0x01, // from_mtp_draft true
          0x02, 0x02, // finish_reason: branch 1 (enum), symbol 1 (LENGTH)
          0x02, 'm', // model_id "m"
          0x02, 'd', // weights_digest "d"
          0x00, // engine_version "" (default)
          0x00, // seed: branch 0 (null)
          0x06, 'c', 'p', 'u', // backend "cpu" (default)
          0x02); // produced_at: 1 ms

  @Test
  void encodesAKnownRecordToExactBytes() {
    assertArrayEquals(KNOWN_TOKEN_EVENT_AS_ID_7, WireFormat.encode(7, knownTokenEvent()));
  }

  @Test
  void writesTheSchemaIdBigEndian() {
    byte[] framed = WireFormat.encode(0x01020304, knownTokenEvent());
    assertArrayEquals(bytes(0, 1, 2, 3, 4), Arrays.copyOf(framed, 5));
    assertEquals(0x01020304, WireFormat.schemaId(framed));
    assertEquals(-2, WireFormat.schemaId(bytes(0, 0xFF, 0xFF, 0xFF, 0xFE)));
  }

  @Test
  void refusesAWrongMagicByteWithItsCode() {
    byte[] framed = WireFormat.encode(7, knownTokenEvent());
    framed[0] = 1;
    RecordDecodingException e =
        assertThrows(RecordDecodingException.class, () -> WireFormat.schemaId(framed));
    assertEquals(RecordDecodingException.Code.WRONG_MAGIC_BYTE, e.code());
    assertSame(framed, e.originalBytes());
  }

  @Test
  void refusesARecordShorterThanTheHeaderAsUndecodable() {
    RecordDecodingException e =
        assertThrows(RecordDecodingException.class, () -> WireFormat.schemaId(bytes(0, 0, 0)));
    assertEquals(RecordDecodingException.Code.UNDECODABLE, e.code());
  }

  @Test
  void everyDecodingCodeIsAnErrorCodeOfTheErrorsTopic() {
    // The topology turns a decoding failure into a GenerationError by name.
    for (RecordDecodingException.Code code : RecordDecodingException.Code.values()) {
      assertEquals(code.name(), ErrorCode.valueOf(code.name()).name());
    }
  }

  static byte[] bytes(int... values) {
    byte[] out = new byte[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (byte) values[i];
    }
    return out;
  }
}
