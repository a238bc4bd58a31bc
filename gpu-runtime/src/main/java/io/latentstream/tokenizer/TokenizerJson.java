package io.latentstream.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} into the components this package implements, and
 * rejects, naming it, every component or option whose behaviour would differ from them.
 */
final class TokenizerJson {
  /** The parsed components. */
  record Components(BpeModel model, AddedTokens addedTokens, PreTokenizer preTokenizer) {}

  private TokenizerJson() {}

  static Components read(Path file) throws IOException {
    JsonNode root = new ObjectMapper().readTree(Files.readAllBytes(file));
    requireNull(root, "truncation");
    requireNull(root, "padding");
    checkNormalizer(root.get("normalizer"), "normalizer");
    PreTokenizer preTokenizer = new PreTokenizer(preTokenizerSteps(root.get("pre_tokenizer")));
    checkPostProcessor(root.get("post_processor"));
    checkDecoder(root.get("decoder"));
    return new Components(
        model(root.path("model")), addedTokens(root.path("added_tokens")), preTokenizer);
  }

  private static void requireNull(JsonNode root, String field) {
    JsonNode node = root.get(field);
    if (node != null && !node.isNull()) {
      throw unsupported(field, node.toString());
    }
  }

  /** Only normalizers that change nothing: none, or a (nested) empty Sequence. */
  private static void checkNormalizer(JsonNode node, String where) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    if (!type.equals("Sequence")) {
      throw unsupported(where, type);
    }
    for (JsonNode inner : node.path("normalizers")) {
      checkNormalizer(inner, where);
    }
  }

  private static List<PreTokenizer.Step> preTokenizerSteps(JsonNode node) {
    List<PreTokenizer.Step> steps = new ArrayList<>();
    addPreTokenizer(node, steps);
    return steps;
  }

  private static void addPreTokenizer(JsonNode node, List<PreTokenizer.Step> steps) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode inner : node.path("pretokenizers")) {
          addPreTokenizer(inner, steps);
        }
      }
      case "Split" -> {
        String behavior = node.path("behavior").asText();
        if (!behavior.equals("Isolated")) {
          throw unsupported("pre_tokenizer Split behavior", behavior);
        }
        JsonNode pattern = node.path("pattern");
        if (pattern.has("Regex")) {
          steps.add(new PreTokenizer.SplitStep(RegexSplit.regex(pattern.get("Regex").asText())));
        } else if (pattern.has("String")) {
          steps.add(new PreTokenizer.SplitStep(RegexSplit.literal(pattern.get("String").asText())));
        } else {
          throw unsupported("pre_tokenizer Split pattern", pattern.toString());
        }
      }
      case "ByteLevel" -> {
        boolean useRegex = node.path("use_regex").asBoolean(true);
        steps.add(
            new PreTokenizer.ByteLevelStep(
                node.path("add_prefix_space").asBoolean(true),
                useRegex ? RegexSplit.regex(PreTokenizer.GPT2_PATTERN) : null));
      }
      default -> throw unsupported("pre_tokenizer", type);
    }
  }

  /** Post-processors only matter here if they change ids; ByteLevel's only adjusts offsets. */
  private static void checkPostProcessor(JsonNode node) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    if (!type.equals("ByteLevel")) {
      throw unsupported("post_processor", type);
    }
  }

  private static void checkDecoder(JsonNode node) {
    String type = node == null || node.isNull() ? "null" : node.path("type").asText();
    if (!type.equals("ByteLevel")) {
      throw unsupported("decoder", type);
    }
  }

  private static BpeModel model(JsonNode node) {
    String type = node.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw unsupported("model", type);
    }
    if (node.path("byte_fallback").asBoolean(false)) {
      throw unsupported("model option", "byte_fallback true");
    }
    if (node.path("dropout").asDouble(0) != 0) {
      throw unsupported("model option", "dropout " + node.get("dropout"));
    }
    for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (!node.path(affix).asText("").isEmpty()) {
        throw unsupported("model option", affix + " " + node.get(affix));
      }
    }
    Map<String, Integer> vocab = new HashMap<>();
    node.path("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
    List<String[]> merges = new ArrayList<>();
    for (JsonNode merge : node.path("merges")) {
      merges.add(mergePair(merge));
    }
    JsonNode unk = node.get("unk_token");
    return new BpeModel(
        vocab,
        merges,
        unk == null || unk.isNull() ? null : unk.asText(),
        node.path("fuse_unk").asBoolean(false),
        node.path("ignore_merges").asBoolean(false));
  }

  /** A merge is written as {@code "a b"} (older files) or as {@code ["a", "b"]}. */
  private static String[] mergePair(JsonNode merge) {
    if (merge.isArray() && merge.size() == 2) {
      return new String[] {merge.get(0).asText(), merge.get(1).asText()};
    }
    String[] parts = merge.asText().split(" ", -1);
    if (parts.length != 2) {
      throw new IllegalArgumentException("malformed merge " + merge);
    }
    return parts;
  }

  private static AddedTokens addedTokens(JsonNode node) {
    List<AddedToken> tokens = new ArrayList<>();
    for (JsonNode t : node) {
      tokens.add(
          new AddedToken(
              t.path("id").asInt(),
              t.path("content").asText(),
              t.path("special").asBoolean(false),
              t.path("normalized").asBoolean(true),
              t.path("single_word").asBoolean(false),
              t.path("lstrip").asBoolean(false),
              t.path("rstrip").asBoolean(false)));
    }
    return new AddedTokens(tokens);
  }

  private static IllegalArgumentException unsupported(String component, String type) {
    return new IllegalArgumentException(
        "unsupported tokenizer.json component: " + component + " " + type);
  }
}
