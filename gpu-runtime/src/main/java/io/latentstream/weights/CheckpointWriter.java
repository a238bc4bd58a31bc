package io.latentstream.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes a checkpoint's tensors as Hugging Face does: shards {@code
 * model-0000k-of-0000n.safetensors} of at most the shard size each (a larger tensor alone in its
 * shard) with {@code model.safetensors.index.json}, or one {@code model.safetensors} without an
 * index when everything fits one shard (as {@code save_pretrained}). Tensors go to shards in the
 * order they are added; their data is produced as the shards are written (see {@link
 * SafetensorsWriter}).
 */
public final class CheckpointWriter {
  /** What was written: the files in order, the tensors, and their bytes (headers not counted). */
  public record Written(List<Path> files, int tensors, long bytes) {}

  private final long shardBytes;
  private final List<SafetensorsWriter> shards = new ArrayList<>();
  private final Map<String, Integer> shardOf = new LinkedHashMap<>();
  private final Map<String, Long> bytes = new LinkedHashMap<>();

  public CheckpointWriter(long shardBytes) {
    if (shardBytes <= 0) {
      throw new IllegalArgumentException("shard size must be positive, not " + shardBytes);
    }
    this.shardBytes = shardBytes;
  }

  /** Adds a tensor to the last shard, or to a new one if it would overflow it. */
  public CheckpointWriter add(
      String name, DType dtype, long[] shape, Supplier<SafetensorsWriter.Elements> data) {
    if (bytes.containsKey(name)) {
      throw new IllegalArgumentException("tensor '" + name + "' added twice");
    }
    long size = SafetensorsWriter.bytes(dtype, shape);
    SafetensorsWriter last = shards.isEmpty() ? null : shards.get(shards.size() - 1);
    if (last == null || (last.dataBytes() > 0 && last.dataBytes() + size > shardBytes)) {
      last = new SafetensorsWriter();
      shards.add(last);
    }
    last.add(name, dtype, shape, data);
    shardOf.put(name, shards.size() - 1);
    bytes.put(name, size);
    return this;
  }

  /** Each tensor's stored bytes, in the order added: what {@link #write} will write. */
  public Map<String, Long> tensorBytes() {
    return Collections.unmodifiableMap(bytes);
  }

  /** Writes the shards and the index into dir (which must exist). */
  public Written write(Path dir) throws IOException {
    List<Path> files = new ArrayList<>();
    if (shards.size() == 1) {
      files.add(dir.resolve("model.safetensors"));
    } else {
      for (int k = 0; k < shards.size(); k++) {
        String name =
            String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", k + 1, shards.size());
        files.add(dir.resolve(name));
      }
    }
    long total = 0;
    for (int k = 0; k < shards.size(); k++) {
      shards.get(k).write(files.get(k));
      total += shards.get(k).dataBytes();
    }
    if (shards.size() > 1) {
      ObjectMapper json = new ObjectMapper();
      ObjectNode index = json.createObjectNode();
      index.putObject("metadata").put("total_size", total);
      ObjectNode map = index.putObject("weight_map");
      shardOf.forEach((name, k) -> map.put(name, files.get(k).getFileName().toString()));
      Files.writeString(
          dir.resolve("model.safetensors.index.json"),
          json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
    }
    return new Written(files, bytes.size(), total);
  }
}
