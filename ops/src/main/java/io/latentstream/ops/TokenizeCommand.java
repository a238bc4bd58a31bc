package io.latentstream.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code latentstream tokenize}: text to token ids, printed as JSON. */
@Command(
    name = "tokenize",
    mixinStandardHelpOptions = true,
    description = {
      "Encodes text with a model's tokenizer and prints the ids as JSON.",
      "--input FILE (a JSON array of strings) prints an array of id arrays; --text prints one id"
          + " array. No special tokens are added unless --add-special-tokens is given."
    })
final class TokenizeCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(
      names = "--tokenizer",
      required = true,
      paramLabel = "DIR",
      description = "directory with tokenizer.json (and tokenizer_config.json)")
  Path tokenizerDirectory;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Input input;

  static final class Input {
    @Option(names = "--input", paramLabel = "FILE", description = "JSON array of strings")
    Path file;

    @Option(names = "--text", paramLabel = "TEXT", description = "one string")
    String text;
  }

  @Option(
      names = "--add-special-tokens",
      description = "prepend BOS (append EOS) as tokenizer_config.json says")
  boolean addSpecialTokens;

  @Override
  public Integer call() {
    return CliErrors.report(
        spec,
        () -> {
          // The input first: a mistake there should not wait for the tokenizer to load.
          List<String> texts = input.text != null ? null : readStrings(input.file);
          Tokenizer tokenizer = Tokenizer.load(tokenizerDirectory);
          Object result;
          if (input.text != null) {
            result = tokenizer.encode(input.text, addSpecialTokens);
          } else {
            List<int[]> encodings = new ArrayList<>();
            for (String text : texts) {
              encodings.add(tokenizer.encode(text, addSpecialTokens));
            }
            result = encodings;
          }
          spec.commandLine().getOut().println(JSON.writeValueAsString(result));
          spec.commandLine().getOut().flush();
        });
  }

  private static List<String> readStrings(Path file) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read " + file + " as JSON: " + e.getClass().getSimpleName(), e);
    }
    if (root == null || !root.isArray()) {
      throw new IllegalArgumentException(file + " must hold a JSON array of strings");
    }
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < root.size(); i++) {
      if (!root.get(i).isTextual()) {
        throw new IllegalArgumentException(
            file
                + " must hold a JSON array of strings; element "
                + i
                + " is "
                + root.get(i).getNodeType().toString().toLowerCase());
      }
      texts.add(root.get(i).asText());
    }
    return texts;
  }
}
