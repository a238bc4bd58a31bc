package io.latentstream.ops;

import io.latentstream.engine.Engine;
import io.latentstream.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Continues a prompt; prints exactly one JSON object {"tokens":[...]} on stdout. */
@Command(name = "generate", description = "Generate tokens after a prompt (greedy).")
final class GenerateCommand extends EngineCommand {
  @Mixin ModelOptions options;

  @Option(
      names = "--max-new-tokens",
      defaultValue = "32",
      description = "Tokens to generate (default ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(names = "--greedy", description = "Argmax decoding (the only mode so far).")
  boolean greedy;

  @Override
  void run() throws Exception {
    if (!greedy) {
      throw new IllegalArgumentException("sampling is not implemented yet; pass --greedy");
    }
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("--max-new-tokens must be >= 0");
    }
    ModelConfig config = options.config();
    int[] prompt = options.ids(config);
    Engine engine = options.load();
    int[] tokens = engine.generateGreedy(prompt, maxNewTokens);
    StringBuilder json = new StringBuilder("{\"tokens\":[");
    for (int i = 0; i < tokens.length; i++) {
      json.append(i == 0 ? "" : ",").append(tokens[i]);
    }
    cli().getOut().println(json.append("]}"));
  }
}
