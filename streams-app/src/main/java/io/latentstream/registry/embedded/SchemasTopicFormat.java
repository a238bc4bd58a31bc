package io.latentstream.registry.embedded;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.registry.CompatibilityLevel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Optional;

/**
 * The records of the schemas topic, laid out like Confluent's {@code _schemas} (JSON key with a
 * {@code keytype}, JSON value), so the topic reads familiarly with any console consumer. Keys are
 * unique per subject version and per config scope, so compaction keeps exactly the live state.
 */
final class SchemasTopicFormat {
  private static final ObjectMapper JSON = new ObjectMapper();

  private SchemasTopicFormat() {}

  sealed interface Entry permits SchemaEntry, ConfigEntry {}

  /** Version {@code version} of {@code subject} is the schema with global id {@code id}. */
  record SchemaEntry(String subject, int version, int id, String schema) implements Entry {}

  /** The compatibility level of {@code subject}, or the global one when subject is null. */
  record ConfigEntry(String subject, CompatibilityLevel level) implements Entry {}

  static byte[] key(Entry entry) {
    ObjectNode key = JSON.createObjectNode();
    if (entry instanceof SchemaEntry s) {
      key.put("keytype", "SCHEMA").put("subject", s.subject()).put("version", s.version());
      key.put("magic", 1);
    } else if (entry instanceof ConfigEntry c) {
      key.put("keytype", "CONFIG");
      if (c.subject() == null) {
        key.putNull("subject");
      } else {
        key.put("subject", c.subject());
      }
      key.put("magic", 0);
    }
    return bytes(key);
  }

  static byte[] value(Entry entry) {
    ObjectNode value = JSON.createObjectNode();
    if (entry instanceof SchemaEntry s) {
      value.put("subject", s.subject()).put("version", s.version()).put("id", s.id());
      value.put("schema", s.schema()).put("deleted", false);
    } else if (entry instanceof ConfigEntry c) {
      value.put("compatibilityLevel", c.level() == null ? null : c.level().name());
    }
    return bytes(value);
  }

  /** Parses one record; empty for tombstones and key types this registry does not use. */
  static Optional<Entry> parse(byte[] keyBytes, byte[] valueBytes) {
    if (keyBytes == null || valueBytes == null) {
      return Optional.empty();
    }
    try {
      JsonNode key = JSON.readTree(keyBytes);
      JsonNode value = JSON.readTree(valueBytes);
      switch (key.path("keytype").asText()) {
        case "SCHEMA":
          if (value.path("deleted").asBoolean(false)) {
            return Optional.empty();
          }
          return Optional.of(
              new SchemaEntry(
                  value.path("subject").asText(),
                  value.path("version").asInt(),
                  value.path("id").asInt(),
                  value.path("schema").asText()));
        case "CONFIG":
          JsonNode subject = key.path("subject");
          JsonNode level = value.path("compatibilityLevel");
          return Optional.of(
              new ConfigEntry(
                  subject.isTextual() ? subject.asText() : null,
                  level.isTextual() ? CompatibilityLevel.valueOf(level.asText()) : null));
        default:
          return Optional.empty();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("corrupt record in the schemas topic", e);
    }
  }

  private static byte[] bytes(JsonNode node) {
    try {
      return JSON.writeValueAsBytes(node);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
