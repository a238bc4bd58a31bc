package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading tokenizer files: what is refused, and the options of tokenizer_config.json. */
class TokenizerLoadingTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  @Test
  void unsupportedComponentsAreRefusedByName() throws IOException {
    assertRefused(
        root -> root.set("normalizer", JSON.createObjectNode().put("type", "NFKC")),
        "normalizer NFKC");
    assertRefused(
        root -> root.set("pre_tokenizer", JSON.createObjectNode().put("type", "Metaspace")),
        "pre_tokenizer Metaspace");
    assertRefused(
        root ->
            ((ObjectNode) root.path("pre_tokenizer").path("pretokenizers").get(0))
                .put("behavior", "MergedWithPrevious"),
        "Split behavior MergedWithPrevious");
    assertRefused(
        root -> ((ObjectNode) root.path("model")).put("type", "WordPiece"), "model WordPiece");
    assertRefused(
        root -> ((ObjectNode) root.path("model")).put("byte_fallback", true), "byte_fallback true");
    assertRefused(
        root -> root.set("decoder", JSON.createObjectNode().put("type", "Metaspace")),
        "decoder Metaspace");
    assertRefused(
        root ->
            root.set("post_processor", JSON.createObjectNode().put("type", "TemplateProcessing")),
        "post_processor TemplateProcessing");
    assertRefused(
        root -> root.set("truncation", JSON.createObjectNode().put("max_length", 8)), "truncation");
  }

  @Test
  void noOpNormalizersAreAccepted() throws IOException {
    Path reference = SharedData.brownMtp();
    for (String normalizer :
        new String[] {
          "null",
          "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Sequence\",\"normalizers\":[]}]}"
        }) {
      ObjectNode root = (ObjectNode) JSON.readTree(reference.resolve("tokenizer.json").toFile());
      root.set("normalizer", JSON.readTree(normalizer));
      Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(root));
      String text = "The jury said 42 things.";
      assertArrayEquals(Tokenizer.load(reference).encode(text), Tokenizer.load(dir).encode(text));
    }
  }

  @Test
  void addSpecialTokensPrependsBosAsTheConfigSays() {
    Tokenizer tokenizer = SharedTokenizers.deepseekV3();
    assertTrue(tokenizer.config().addBosToken());
    assertEquals(tokenizer.tokenToId(tokenizer.config().bosToken()), tokenizer.bosId());
    int[] plain = tokenizer.encode("Hello world");
    int[] withSpecial = tokenizer.encode("Hello world", true);
    assertEquals(plain.length + (tokenizer.config().addEosToken() ? 2 : 1), withSpecial.length);
    assertEquals(tokenizer.bosId(), withSpecial[0]);
    for (int i = 0; i < plain.length; i++) {
      assertEquals(plain[i], withSpecial[i + 1]);
    }
  }

  @Test
  void withoutAConfigNothingIsAdded() throws IOException {
    Files.copy(SharedData.brownMtp().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    Tokenizer tokenizer = Tokenizer.load(dir);
    assertArrayEquals(tokenizer.encode("Hi"), tokenizer.encode("Hi", true));
    assertThrows(IllegalArgumentException.class, tokenizer::chatTemplate);
  }

  @Test
  void aDirectoryWithoutTokenizerJsonIsNamed() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
    assertTrue(e.getMessage().contains("no tokenizer.json in " + dir), e.getMessage());
  }

  @Test
  void theVendoredDemoTokenizerIsTheSharedOne() throws IOException {
    Path vendored =
        Path.of(System.getProperty("user.dir")).resolve("../models/brown-mtp/tokenizer.json");
    assertEquals(
        -1L,
        Files.mismatch(vendored, SharedData.brownMtp().resolve("tokenizer.json")),
        "vendored copy");
  }

  private void assertRefused(Consumer<ObjectNode> edit, String expectedInMessage)
      throws IOException {
    ObjectNode root =
        (ObjectNode) JSON.readTree(SharedData.brownMtp().resolve("tokenizer.json").toFile());
    edit.accept(root);
    Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(root));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
    assertTrue(
        e.getMessage().startsWith("unsupported tokenizer.json component")
            && e.getMessage().contains(expectedInMessage),
        e.getMessage());
  }
}
