package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The bound a prompt's length is refused by before tokenizing: no token stands for more than {@link
 * Tokenizer#maxTokenBytes} bytes, checked token by token on every reference string (the Rust
 * implementation's ids), so a text of n bytes never encodes to fewer than n / maxTokenBytes tokens.
 */
class MaxTokenBytesTest {
  @Test
  void deepseekV3() throws IOException {
    Tokenizer tokenizer = SharedTokenizers.deepseekV3();
    assertEquals(128, tokenizer.maxTokenBytes(), "the longest token of DeepSeek-V3's vocabulary");
    checkBound(tokenizer, SharedData.deepseekV3().resolve("golden.json"));
  }

  @Test
  void brownMtp() throws IOException {
    Path dir = SharedData.brownMtp();
    Tokenizer tokenizer = Tokenizer.load(dir);
    checkBound(tokenizer, dir.resolve("tokenizer-golden.json"));
  }

  private static void checkBound(Tokenizer tokenizer, Path golden) throws IOException {
    JsonNode cases = new ObjectMapper().readTree(golden.toFile()).path("cases");
    int longestSeen = 0;
    for (JsonNode kase : cases) {
      String text = kase.path("text").asText();
      JsonNode ids = kase.path("ids");
      long bytes = text.getBytes(StandardCharsets.UTF_8).length;
      assertTrue(
          ids.size() * (long) tokenizer.maxTokenBytes() >= bytes,
          ids.size() + " tokens for " + bytes + " bytes");
      for (JsonNode id : ids) {
        int covered = bytesOf(tokenizer, id.asInt());
        longestSeen = Math.max(longestSeen, covered);
        assertTrue(covered <= tokenizer.maxTokenBytes(), "token " + id + ": " + covered + " bytes");
      }
    }
    assertTrue(longestSeen > 1, "the cases hold multi-byte tokens");
  }

  /** The bytes of text a token stands for. */
  private static int bytesOf(Tokenizer tokenizer, int id) {
    AddedToken added = tokenizer.addedTokens().byId(id);
    if (added != null) {
      return added.content().getBytes(StandardCharsets.UTF_8).length;
    }
    ByteSink sink = new ByteSink();
    ByteLevel.appendBytes(tokenizer.idToToken(id), sink);
    return sink.length();
  }
}
