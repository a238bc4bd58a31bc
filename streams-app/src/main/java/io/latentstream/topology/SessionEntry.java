package io.latentstream.topology;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * What the session store remembers of a conversation besides its latent cache.
 *
 * @param history every token of the conversation so far (prompts and generations)
 * @param cachedTokens how many leading tokens of {@code history} have their latent cache stored
 * @param cacheBytes size of the stored latent cache
 * @param lastUsedMs wall-clock time of the last turn, for TTL and LRU eviction
 * @param backend the engine backend that computed the stored latents ({@code Engine.backend()}):
 *     another backend's latents differ in the last bits, so only the same backend resumes from them
 */
public record SessionEntry(
    int[] history, int cachedTokens, long cacheBytes, long lastUsedMs, String backend) {
  /** 2 added the backend; entries of format 1 were all written by the CPU engine. */
  private static final byte FORMAT_VERSION = 2;

  public SessionEntry {
    if (cachedTokens < 0 || cachedTokens > history.length) {
      throw new IllegalArgumentException(
          "cached tokens " + cachedTokens + " outside a history of " + history.length);
    }
  }

  byte[] toBytes() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(16 + 4 * history.length);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(FORMAT_VERSION);
      out.writeInt(cachedTokens);
      out.writeLong(cacheBytes);
      out.writeLong(lastUsedMs);
      out.writeUTF(backend);
      out.writeInt(history.length);
      for (int token : history) {
        out.writeInt(token);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static SessionEntry fromBytes(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      byte version = in.readByte();
      if (version != 1 && version != FORMAT_VERSION) {
        throw new IllegalStateException("unknown session entry format " + version);
      }
      int cachedTokens = in.readInt();
      long cacheBytes = in.readLong();
      long lastUsedMs = in.readLong();
      String backend = version == 1 ? "cpu" : in.readUTF();
      int[] history = new int[in.readInt()];
      for (int i = 0; i < history.length; i++) {
        history[i] = in.readInt();
      }
      return new SessionEntry(history, cachedTokens, cacheBytes, lastUsedMs, backend);
    } catch (IOException e) {
      throw new UncheckedIOException("corrupt session entry", e);
    }
  }
}
