package io.latentstream.ops;

import io.latentstream.engine.Engine;
import io.latentstream.engine.StepRequest;
import io.latentstream.model.ModelConfig;
import io.latentstream.runtime.Backends;
import io.latentstream.weights.DType;
import io.latentstream.weights.SafetensorsWriter;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Writes the logits of every prompt position as one F32 tensor "logits" [T, vocab]. */
@Command(
    name = "logits",
    description = "Write the logits of every prompt position to a safetensors file.")
final class LogitsCommand extends EngineCommand {
  @Mixin ModelOptions options;

  @Option(names = "--out", required = true, description = "Output safetensors file.")
  Path out;

  @Override
  void run() throws Exception {
    ModelConfig config = options.config();
    int[] prompt = options.ids(config);
    float[][] logits;
    try (Backends.Loaded loaded = options.load()) {
      Engine engine = loaded.engine();
      logits =
          engine
              .step(List.of(new StepRequest(engine.newSequence(), prompt, StepRequest.Logits.ALL)))
              .get(0)
              .logits();
    }
    int vocab = config.vocabSize();
    float[] flat = new float[prompt.length * vocab];
    for (int t = 0; t < prompt.length; t++) {
      System.arraycopy(logits[t], 0, flat, t * vocab, vocab);
    }
    new SafetensorsWriter().add("logits", DType.F32, flat, prompt.length, vocab).write(out);
  }
}
