package io.latentstream.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What {@code tokenizer_config.json} adds to {@code tokenizer.json}: whether encoding with special
 * tokens prepends BOS (and appends EOS), their texts, and the chat template.
 *
 * @param bosToken the BOS text, or null
 * @param eosToken the EOS text, or null
 * @param chatTemplate the Jinja chat template, or null
 */
public record TokenizerConfig(
    boolean addBosToken,
    boolean addEosToken,
    String bosToken,
    String eosToken,
    String chatTemplate) {

  /** The configuration of a directory without {@code tokenizer_config.json}. */
  public static final TokenizerConfig NONE = new TokenizerConfig(false, false, null, null, null);

  /** Reads {@code tokenizer_config.json}. */
  public static TokenizerConfig read(Path file) throws IOException {
    JsonNode root = new ObjectMapper().readTree(Files.readAllBytes(file));
    return new TokenizerConfig(
        root.path("add_bos_token").asBoolean(false),
        root.path("add_eos_token").asBoolean(false),
        tokenText(root.get("bos_token")),
        tokenText(root.get("eos_token")),
        chatTemplate(root.get("chat_template")));
  }

  /** A token is written either as its text or as an {@code AddedToken} object. */
  private static String tokenText(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    return node.isTextual() ? node.asText() : node.path("content").asText(null);
  }

  /** A single template, or the one named "default" of a list of named templates. */
  private static String chatTemplate(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    if (node.isTextual()) {
      return node.asText();
    }
    for (JsonNode named : node) {
      if ("default".equals(named.path("name").asText())) {
        return named.path("template").asText();
      }
    }
    return null;
  }
}
