package io.latentstream.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.engine.Engine;
import io.latentstream.model.ModelConfig;
import io.latentstream.runtime.Backends;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.tokenizer.Tokenizer;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Continues a prompt; prints exactly one JSON object: {"tokens":[...]}, plus "text" when the prompt
 * was text. With --prompt-ids generation runs to --max-new-tokens (no EOS stop, as the goldens'
 * argmax); with --prompt the model's tokenizer adds BOS and EOS ends generation.
 */
@Command(name = "generate", description = "Generate tokens after a prompt (greedy by default).")
final class GenerateCommand extends EngineCommand {
  @Mixin ModelOptions options;

  @Option(names = "--prompt", description = "Prompt text, tokenized with the model's tokenizer.")
  String prompt;

  @Option(
      names = "--max-new-tokens",
      defaultValue = "32",
      description = "Tokens to generate (default ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(names = "--greedy", description = "Argmax decoding (the default; overrides sampling).")
  boolean greedy;

  @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy (default).")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1")
  double topP;

  @Option(names = "--top-k", defaultValue = "0")
  int topK;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the sampler.")
  long seed;

  @Option(names = "--no-mtp", description = "Do not draft tokens with Multi-Token Prediction.")
  boolean noMtp;

  @Override
  void run() throws Exception {
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("--max-new-tokens must be >= 0");
    }
    if ((prompt == null) == (options.promptIds == null)) {
      throw new IllegalArgumentException("give exactly one of --prompt and --prompt-ids");
    }
    ModelConfig config = options.config();
    Tokenizer tokenizer = prompt == null ? null : Tokenizer.load(options.model);
    int[] ids = prompt == null ? options.ids(config) : tokenizer.encode(prompt, true);
    int[] tokens = new int[0];
    if (maxNewTokens > 0) {
      try (Backends.Loaded loaded = options.load()) {
        tokens = generate(loaded.engine(), tokenizer, ids);
      }
    }
    ObjectNode json = new ObjectMapper().createObjectNode();
    var array = json.putArray("tokens");
    for (int token : tokens) {
      array.add(token);
    }
    if (tokenizer != null) {
      json.put("text", tokenizer.decode(tokens, true));
    }
    cli().getOut().println(json);
  }

  private int[] generate(Engine engine, Tokenizer tokenizer, int[] ids) {
    SamplingParams params =
        new SamplingParams(greedy ? 0 : temperature, topP, topK, seed, maxNewTokens, List.of());
    int[][] tokens = new int[1][];
    try (GenerationLoop loop =
        new GenerationLoop(engine, tokenizer, new GenerationLoop.Settings(1, 512, !noMtp))) {
      loop.submit(
          GenerationRequest.of("cli", ids, params),
          new GenerationListener() {
            @Override
            public void onToken(TokenEmission token) {}

            @Override
            public void onFinished(GenerationOutcome outcome) {
              tokens[0] = outcome.tokens();
            }
          });
      loop.runUntilIdle();
    }
    return tokens[0];
  }
}
