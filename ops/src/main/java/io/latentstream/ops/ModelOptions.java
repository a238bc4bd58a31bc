package io.latentstream.ops;

import io.latentstream.model.ModelConfig;
import io.latentstream.runtime.Backends;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options every engine command shares: the model directory and the prompt token ids. */
final class ModelOptions {
  @Option(
      names = "--model",
      required = true,
      description = "Checkpoint directory (config.json + safetensors).")
  Path model;

  @Option(names = "--prompt-ids", description = "Prompt token ids, comma-separated, e.g. 0,412,7.")
  String promptIds;

  @Mixin BackendOption backend = new BackendOption();

  /** The config, read first so that bad input fails before the weights are loaded. */
  ModelConfig config() throws IOException {
    if (!Files.isDirectory(model)) {
      throw new IllegalArgumentException("model directory " + model + " does not exist");
    }
    return ModelConfig.load(model);
  }

  /** The prompt ids, each checked against the vocabulary. */
  int[] ids(ModelConfig config) {
    if (promptIds == null) {
      throw new IllegalArgumentException("--prompt-ids is required");
    }
    String[] parts = promptIds.trim().split("\\s*,\\s*");
    int[] ids = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      try {
        ids[i] = Integer.parseInt(parts[i]);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--prompt-ids: '" + parts[i] + "' is not a token id");
      }
      if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
        throw new IllegalArgumentException(
            "--prompt-ids: id "
                + ids[i]
                + " is outside the vocabulary [0, "
                + config.vocabSize()
                + ")");
      }
    }
    return ids;
  }

  /** The engine on the chosen backend, for one request at a time; close it to free the GPU. */
  Backends.Loaded load() throws IOException {
    return Backends.load(backend.name, model, Backends.CudaSizes.forLoop(1, 4096, 256L << 20));
  }
}
