package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tokenize} and {@code detokenize} through picocli, checked against the goldens. */
class TokenizerCommandsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Path tokenizerDir;
  private static JsonNode goldenCases;
  // The demo model's tokenizer loads ten times faster; most cases use it.
  private static Path brownDir;
  private static JsonNode brownCases;

  @TempDir Path temp;

  private record Result(int exitCode, String out, String err) {}

  @BeforeAll
  static void findReferenceData() throws IOException {
    String shared = System.getProperty("latentstream.shared");
    if (shared == null || !Files.isDirectory(Path.of(shared, "tokenizers/deepseek-v3"))) {
      throw new IllegalStateException(
          "missing reference data: set -Dlatentstream.shared (Maven points it at ../shared)");
    }
    tokenizerDir = Path.of(shared, "tokenizers/deepseek-v3");
    goldenCases = JSON.readTree(tokenizerDir.resolve("golden.json").toFile()).path("cases");
    brownDir = Path.of(shared, "models/brown-mtp");
    brownCases = JSON.readTree(brownDir.resolve("tokenizer-golden.json").toFile()).path("cases");
  }

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    var cli = LatentstreamCli.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int code = cli.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void tokenizeAFileOfStringsPrintsTheGoldenIdArrays() throws IOException {
    ArrayNode texts = JSON.createArrayNode();
    ArrayNode expected = JSON.createArrayNode();
    for (int i = 0; i < 40; i++) {
      texts.add(goldenCases.get(i).path("text").asText());
      expected.add(goldenCases.get(i).path("ids"));
    }
    Path input = temp.resolve("texts.json");
    Files.writeString(input, JSON.writeValueAsString(texts));
    Result result =
        run("tokenize", "--tokenizer", tokenizerDir.toString(), "--input", input.toString());
    assertEquals(0, result.exitCode(), result.err());
    assertEquals(expected, JSON.readTree(result.out()));
  }

  @Test
  void tokenizeOneTextPrintsOneIdArray() throws IOException {
    JsonNode kase = brownCases.get(0);
    Result result =
        run("tokenize", "--tokenizer", brownDir.toString(), "--text", kase.path("text").asText());
    assertEquals(0, result.exitCode(), result.err());
    assertEquals(kase.path("ids"), JSON.readTree(result.out()));
  }

  @Test
  void addSpecialTokensPrependsBos() throws IOException {
    JsonNode kase = brownCases.get(1);
    Result result =
        run(
            "tokenize",
            "--tokenizer",
            brownDir.toString(),
            "--add-special-tokens",
            "--text",
            kase.path("text").asText());
    JsonNode ids = JSON.readTree(result.out());
    assertEquals(kase.path("ids").size() + 1, ids.size());
    assertEquals(0, ids.get(0).asInt(), "BOS id 0 (models/brown-mtp/tokenizer.json)");
  }

  @Test
  void detokenizePrintsTheGoldenText() {
    for (int i : new int[] {0, 1, 2, 3}) {
      JsonNode kase = brownCases.get(i);
      Result result =
          run("detokenize", "--tokenizer", brownDir.toString(), "--ids", joined(kase.path("ids")));
      assertEquals(0, result.exitCode(), result.err());
      assertEquals(kase.path("text").asText() + System.lineSeparator(), result.out());
    }
  }

  @Test
  void detokenizeCanSkipSpecialTokens() {
    JsonNode kase = goldenCases.get(10); // a chat transcript with BOS and EOS inline
    String text = kase.path("text").asText();
    assertTrue(text.startsWith("<｜begin▁of▁sentence｜>"), text);
    Result result =
        run(
            "detokenize",
            "--tokenizer",
            tokenizerDir.toString(),
            "--skip-special-tokens",
            "--ids",
            joined(kase.path("ids")));
    String expected = text.replace("<｜begin▁of▁sentence｜>", "").replace("<｜end▁of▁sentence｜>", "");
    assertEquals(expected + System.lineSeparator(), result.out());
  }

  @Test
  void failuresAreOneLineWithANonZeroExit() throws IOException {
    Path notArray = temp.resolve("object.json");
    Files.writeString(notArray, "{\"text\": \"hi\"}");
    Path numbers = temp.resolve("numbers.json");
    Files.writeString(numbers, "[\"hi\", 3]");
    List<Result> failures = new ArrayList<>();
    failures.add(run("tokenize", "--tokenizer", temp.toString(), "--text", "hi"));
    failures.add(
        run("tokenize", "--tokenizer", brownDir.toString(), "--input", notArray.toString()));
    failures.add(
        run("tokenize", "--tokenizer", brownDir.toString(), "--input", numbers.toString()));
    failures.add(
        run(
            "tokenize",
            "--tokenizer",
            brownDir.toString(),
            "--input",
            temp.resolve("none.json").toString()));
    failures.add(run("detokenize", "--tokenizer", brownDir.toString(), "--ids", "1,99999999"));
    for (Result failure : failures) {
      assertEquals(1, failure.exitCode(), failure.err());
      assertEquals("", failure.out());
      assertEquals(1, failure.err().lines().count(), failure.err());
    }
    assertTrue(failures.get(0).err().contains("no tokenizer.json in"), failures.get(0).err());
    assertTrue(failures.get(2).err().contains("element 1 is number"), failures.get(2).err());
    assertTrue(failures.get(4).err().contains("no token has id 99999999"), failures.get(4).err());
  }

  @Test
  void textAndInputAreExclusive() {
    Result result =
        run("tokenize", "--tokenizer", brownDir.toString(), "--text", "a", "--input", "b.json");
    assertEquals(2, result.exitCode());
    assertTrue(result.err().contains("mutually exclusive"), result.err());
  }

  private static String joined(JsonNode ids) {
    StringJoiner joiner = new StringJoiner(",");
    ids.forEach(id -> joiner.add(id.asText()));
    return joiner.toString();
  }
}
