package io.latentstream.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;

/**
 * A SHA-256 over everything that determines a checkpoint's outputs: {@code config.json} and the
 * weight files, by name and content, in name order. Token events carry it so that an audit replay
 * can refuse to compare generations made with different weights.
 */
public final class WeightsDigest {
  private static final int BUFFER_BYTES = 1 << 20;

  private WeightsDigest() {}

  /** Returns "sha256:" followed by 64 hex digits. */
  public static String of(Path checkpointDir) {
    MessageDigest sha256 = sha256();
    byte[] buffer = new byte[BUFFER_BYTES];
    for (Path file : filesOf(checkpointDir)) {
      sha256.update(file.getFileName().toString().getBytes(StandardCharsets.UTF_8));
      sha256.update((byte) 0);
      try (InputStream in = Files.newInputStream(file)) {
        for (int read; (read = in.read(buffer)) > 0; ) {
          sha256.update(buffer, 0, read);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file + " for the weights digest", e);
      }
    }
    return "sha256:" + HexFormat.of().formatHex(sha256.digest());
  }

  /**
   * config.json and the weight files: the shards the index names, or the single {@code
   * model.safetensors}. Other safetensors beside them (goldens, adapters) do not belong to the
   * checkpoint's weights.
   */
  private static List<Path> filesOf(Path checkpointDir) {
    Path index = checkpointDir.resolve("model.safetensors.index.json");
    TreeSet<String> names = new TreeSet<>();
    try {
      if (Files.exists(index)) {
        JsonNode weightMap = new ObjectMapper().readTree(index.toFile()).path("weight_map");
        weightMap.elements().forEachRemaining(shard -> names.add(shard.asText()));
      } else if (Files.exists(checkpointDir.resolve("model.safetensors"))) {
        names.add("model.safetensors");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + index, e);
    }
    if (names.isEmpty()) {
      throw new IllegalArgumentException("no safetensors weights in " + checkpointDir);
    }
    names.add("config.json");
    return names.stream().map(checkpointDir::resolve).toList();
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime provides SHA-256", e);
    }
  }
}
