package io.latentstream.ops;

import io.latentstream.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream detokenize}: token ids to text. */
@Command(
    name = "detokenize",
    mixinStandardHelpOptions = true,
    description = "Decodes token ids with a model's tokenizer and prints the text.")
final class DetokenizeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--tokenizer",
      required = true,
      paramLabel = "DIR",
      description = "directory with tokenizer.json (and tokenizer_config.json)")
  Path tokenizerDirectory;

  @Option(
      names = "--ids",
      required = true,
      split = ",",
      paramLabel = "ID",
      description = "comma-separated token ids, e.g. 0,19923,14")
  List<Integer> ids;

  @Option(names = "--skip-special-tokens", description = "leave out special tokens such as BOS")
  boolean skipSpecialTokens;

  @Override
  public Integer call() {
    return CliErrors.report(
        spec,
        () -> {
          Tokenizer tokenizer = Tokenizer.load(tokenizerDirectory);
          int[] values = new int[ids.size()];
          for (int i = 0; i < values.length; i++) {
            values[i] = ids.get(i);
            // The library drops unknown ids as Hugging Face does; on the command line a typo
            // should say so instead.
            if (tokenizer.idToToken(values[i]) == null) {
              throw new IllegalArgumentException("no token has id " + values[i]);
            }
          }
          spec.commandLine().getOut().println(tokenizer.decode(values, skipSpecialTokens));
          spec.commandLine().getOut().flush();
        });
  }
}
