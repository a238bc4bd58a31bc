package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every encoding made by the reference Rust implementation, and decoding back: DeepSeek-V3's 1,417
 * cases and the demo model's.
 */
class GoldenEncodingTest {
  @Test
  void deepseekV3MatchesTheRustImplementation() throws IOException {
    Path dir = SharedData.deepseekV3();
    checkGolden(SharedTokenizers.deepseekV3(), dir.resolve("golden.json"), 1417);
  }

  @Test
  void brownMtpMatchesTheRustImplementation() throws IOException {
    Path dir = SharedData.brownMtp();
    checkGolden(Tokenizer.load(dir), dir.resolve("tokenizer-golden.json"), -1);
  }

  private static void checkGolden(Tokenizer tokenizer, Path golden, int expectedCases)
      throws IOException {
    JsonNode root = new ObjectMapper().readTree(golden.toFile());
    assertFalse(root.path("add_special_tokens").asBoolean(), "goldens are without BOS");
    JsonNode cases = root.path("cases");
    if (expectedCases >= 0) {
      assertEquals(expectedCases, cases.size(), "number of golden cases");
    }
    List<String> failures = new ArrayList<>();
    for (int c = 0; c < cases.size(); c++) {
      JsonNode kase = cases.get(c);
      String text = kase.path("text").asText();
      int[] expected = new int[kase.path("ids").size()];
      for (int i = 0; i < expected.length; i++) {
        expected[i] = kase.path("ids").get(i).asInt();
      }
      int[] actual = tokenizer.encode(text);
      if (!Arrays.equals(expected, actual)) {
        failures.add(
            "case "
                + c
                + " "
                + escape(text)
                + "\n  expected "
                + Arrays.toString(expected)
                + "\n  actual   "
                + Arrays.toString(actual));
      } else if (kase.path("decoded_equals_text").asBoolean()
          && !text.equals(tokenizer.decode(actual))) {
        failures.add("case " + c + " decodes to " + escape(tokenizer.decode(actual)));
      }
    }
    if (!failures.isEmpty()) {
      fail(
          failures.size()
              + " of "
              + cases.size()
              + " cases differ from "
              + golden
              + ":\n"
              + String.join("\n", failures.subList(0, Math.min(20, failures.size()))));
    }
  }

  private static String escape(String text) {
    StringBuilder out = new StringBuilder("\"");
    text.codePoints()
        .forEach(
            cp -> {
              int type = Character.getType(cp);
              if (type == Character.CONTROL || type == Character.FORMAT) {
                out.append(String.format("\\u%04x", cp));
              } else {
                out.appendCodePoint(cp);
              }
            });
    return out.append('"').toString();
  }
}
