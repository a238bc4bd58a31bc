package io.latentstream.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.model.RandomCheckpoint;
import io.latentstream.weights.CheckpointWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Writes a DeepSeek-V3 checkpoint of random weights (see {@link RandomCheckpoint}) for benchmarks
 * and capacity planning at sizes no trained model of ours has: the same model in bf16 or in
 * DeepSeek's fp8 format for one seed.
 */
@Command(
    name = "random-checkpoint",
    description = {
      "Write a DeepSeek-V3 checkpoint of random weights (config.json, sharded safetensors, index).",
      "The same --seed writes the same model in both dtypes: the bf16 weights are exactly the fp8"
          + " ones dequantized."
    })
final class RandomCheckpointCommand extends EngineCommand {
  /** Configs shipped with the command, each an example of what --config takes. */
  enum Preset {
    /** 8 layers at hidden 1024, 64 experts of 512 (6 active): 1458 MiB in bf16, 235 MB a token. */
    MEDIUM;

    /** The preset's config.json, a resource of this module. */
    ObjectNode config() throws IOException {
      String resource = "/presets/" + name().toLowerCase(Locale.ROOT) + ".json";
      try (InputStream in = RandomCheckpointCommand.class.getResourceAsStream(resource)) {
        if (in == null) {
          throw new IllegalStateException("missing resource " + resource);
        }
        return (ObjectNode) new ObjectMapper().readTree(in);
      }
    }
  }

  @Option(names = "--config", description = "A DeepSeek-V3 config.json to write weights for.")
  Path config;

  @Option(
      names = "--preset",
      description = "A shipped config instead of --config: ${COMPLETION-CANDIDATES}.")
  Preset preset;

  @Option(
      names = "--dtype",
      required = true,
      description = "bf16, or fp8 (F8_E4M3 linear weights with 128x128 block scales).")
  RandomCheckpoint.Format dtype;

  @Option(names = "--out", required = true, description = "Directory to write (created).")
  Path out;

  @Option(
      names = "--seed",
      defaultValue = "0",
      description = "Seed of the weights (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--shard-bytes",
      defaultValue = "400000000",
      description = "Most tensor bytes per shard (default ${DEFAULT-VALUE}).")
  long shardBytes;

  @Override
  void run() throws Exception {
    if ((config == null) == (preset == null)) {
      throw new IllegalArgumentException("give one of --config FILE and --preset NAME");
    }
    ObjectNode json;
    if (config != null) {
      if (!Files.isRegularFile(config)) {
        throw new IllegalArgumentException("config " + config + " does not exist");
      }
      if (!(new ObjectMapper().readTree(config.toFile()) instanceof ObjectNode node)) {
        throw new IllegalArgumentException(config + ": not a JSON object");
      }
      json = node;
    } else {
      json = preset.config();
    }
    if (shardBytes <= 0) {
      throw new IllegalArgumentException("--shard-bytes must be positive");
    }
    long t0 = System.nanoTime();
    CheckpointWriter.Written w = RandomCheckpoint.write(out, json, dtype, seed, shardBytes);
    double seconds = (System.nanoTime() - t0) / 1e9;
    cli()
        .getOut()
        .printf(
            Locale.ROOT,
            "wrote %s: %d tensors, %d bytes (%.1f MB) in %d safetensors file%s, %s, seed %d,"
                + " in %.1f s (%.0f MB/s)%n",
            out,
            w.tensors(),
            w.bytes(),
            w.bytes() / 1e6,
            w.files().size(),
            w.files().size() == 1 ? "" : "s",
            dtype.name().toLowerCase(Locale.ROOT),
            seed,
            seconds,
            w.bytes() / 1e6 / seconds);
  }
}
