package io.latentstream.topology;

import io.latentstream.sampling.SamplingParams;
import io.latentstream.schemas.TokenEventForm;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An accepted request that has not completed, as the {@code in-flight} store keeps it: durable from
 * the moment its prompt is consumed, with the tokens already forwarded, so that after a restart or
 * a failover the request continues from its last committed token.
 *
 * @param offset the prompt's offset in its partition: session turns start in this order
 * @param turn the turn's own tokens, appended to the session's history when it starts
 * @param tokenEvents the form of its token events, kept for its whole life (a resumed request's
 *     tokens continue in the form of those already forwarded)
 * @param claimed whether its request id was granted to it ({@link Claims}): it may generate
 * @param generated the tokens forwarded so far, in order from index 0
 */
record InFlightRequest(
    String requestId,
    SessionKey session,
    String tenant,
    long offset,
    Turn turn,
    TokenEventForm tokenEvents,
    long acceptedAtMs,
    boolean claimed,
    int[] generated) {
  /**
   * 2 added {@code claimed}: requests of version 1 were accepted before claims and count as
   * claimed; 3 added {@code tokenEvents}: requests of versions 1 and 2 were accepted before chunks
   * and have forwarded token events.
   */
  private static final byte FORMAT_VERSION = 3;

  InFlightRequest withGenerated(int[] tokens) {
    return new InFlightRequest(
        requestId, session, tenant, offset, turn, tokenEvents, acceptedAtMs, claimed, tokens);
  }

  InFlightRequest asClaimed() {
    return new InFlightRequest(
        requestId, session, tenant, offset, turn, tokenEvents, acceptedAtMs, true, generated);
  }

  byte[] toBytes() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(FORMAT_VERSION);
      writeString(out, requestId);
      writeString(out, tenant);
      writeString(out, session == null ? null : session.session());
      out.writeLong(offset);
      writeInts(out, turn.tokens());
      out.writeBoolean(turn.chat());
      out.writeBoolean(turn.mtpDrafting());
      SamplingParams params = turn.params();
      out.writeDouble(params.temperature());
      out.writeDouble(params.topP());
      out.writeInt(params.topK());
      out.writeLong(params.seed());
      out.writeInt(params.maxNewTokens());
      out.writeInt(params.stopStrings().size());
      for (String stop : params.stopStrings()) {
        writeString(out, stop);
      }
      out.writeLong(acceptedAtMs);
      out.writeBoolean(claimed);
      writeInts(out, generated);
      writeString(out, tokenEvents.name());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static InFlightRequest fromBytes(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      byte version = in.readByte();
      if (version < 1 || version > FORMAT_VERSION) {
        throw new IllegalStateException("unknown in-flight request format " + version);
      }
      String requestId = readString(in);
      String tenant = readString(in);
      String sessionId = readString(in);
      long offset = in.readLong();
      int[] tokens = readInts(in);
      boolean chat = in.readBoolean();
      boolean mtp = in.readBoolean();
      double temperature = in.readDouble();
      double topP = in.readDouble();
      int topK = in.readInt();
      long seed = in.readLong();
      int maxNewTokens = in.readInt();
      List<String> stops = new ArrayList<>();
      for (int i = in.readInt(); i > 0; i--) {
        stops.add(readString(in));
      }
      long acceptedAtMs = in.readLong();
      boolean claimed = version == 1 || in.readBoolean();
      int[] generated = readInts(in);
      TokenEventForm tokenEvents =
          version >= 3 ? TokenEventForm.valueOf(readString(in)) : TokenEventForm.TOKEN;
      SamplingParams params =
          new SamplingParams(temperature, topP, topK, seed, maxNewTokens, stops);
      return new InFlightRequest(
          requestId,
          sessionId == null ? null : new SessionKey(tenant, sessionId),
          tenant,
          offset,
          new Turn(tokens, params, mtp, chat),
          tokenEvents,
          acceptedAtMs,
          claimed,
          generated);
    } catch (IOException e) {
      throw new UncheckedIOException("corrupt in-flight request", e);
    }
  }

  private static void writeString(DataOutputStream out, String value) throws IOException {
    if (value == null) {
      out.writeInt(-1);
      return;
    }
    byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
    out.writeInt(utf8.length);
    out.write(utf8);
  }

  private static String readString(DataInputStream in) throws IOException {
    int length = in.readInt();
    return length < 0 ? null : new String(in.readNBytes(length), StandardCharsets.UTF_8);
  }

  private static void writeInts(DataOutputStream out, int[] values) throws IOException {
    out.writeInt(values.length);
    for (int value : values) {
      out.writeInt(value);
    }
  }

  private static int[] readInts(DataInputStream in) throws IOException {
    int[] values = new int[in.readInt()];
    for (int i = 0; i < values.length; i++) {
      values[i] = in.readInt();
    }
    return values;
  }

  @Override
  public String toString() {
    return "InFlightRequest[" + requestId + ", generated " + Arrays.toString(generated) + "]";
  }
}
