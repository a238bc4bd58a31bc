package io.latentstream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.junit.jupiter.api.Test;

/**
 * Every topic schema must stay BACKWARD compatible with each released version (kept in {@code
 * src/test/resources/released/<Name>-v<N>.avsc}): consumers are upgraded first and must read what
 * older producers wrote. When a schema ships, add its text as the next released version.
 */
class SchemaEvolutionTest {
  private static final List<Schema> TOPIC_SCHEMAS =
      List.of(
          PromptRequest.getClassSchema(),
          TokenEvent.getClassSchema(),
          Completion.getClassSchema(),
          GenerationError.getClassSchema());

  @Test
  void everyTopicSchemaReadsDataOfEveryReleasedVersion() throws IOException {
    for (Schema current : TOPIC_SCHEMAS) {
      List<Schema> released = releasedVersions(current.getName());
      assertFalse(released.isEmpty(), "no released version of " + current.getName());
      for (int v = 0; v < released.size(); v++) {
        var result = SchemaCompatibility.checkReaderWriterCompatibility(current, released.get(v));
        assertEquals(
            SchemaCompatibilityType.COMPATIBLE,
            result.getType(),
            current.getName() + " cannot read v" + (v + 1) + ": " + result.getDescription());
      }
    }
  }

  @Test
  void addingARequiredFieldIsDetectedAsIncompatible() throws IOException {
    Schema v1 = releasedVersions("TokenEvent").get(0);
    Schema withRequiredField =
        parse(
            text("TokenEvent", 1)
                .replace(
                    "\"fields\" : [ {",
                    "\"fields\" : [ {\"name\": \"tenant\", \"type\": \"string\"}, {"));
    assertIncompatible(withRequiredField, v1);
  }

  @Test
  void changingAFieldTypeIsDetectedAsIncompatible() throws IOException {
    Schema v1 = releasedVersions("TokenEvent").get(0);
    String text = text("TokenEvent", 1);
    int index = text.indexOf("\"name\" : \"index\"");
    String changed =
        text.substring(0, index)
            + text.substring(index).replaceFirst("\"type\" : \"int\"", "\"type\" : \"string\"");
    assertIncompatible(parse(changed), v1);
  }

  @Test
  void addingAnOptionalFieldWithDefaultStaysCompatible() throws IOException {
    Schema v1 = releasedVersions("TokenEvent").get(0);
    Schema withOptionalField =
        parse(
            text("TokenEvent", 1)
                .replace(
                    "\"fields\" : [ {",
                    "\"fields\" : [ {\"name\": \"tenant\", \"type\": [\"null\", \"string\"],"
                        + " \"default\": null}, {"));
    assertEquals(
        SchemaCompatibilityType.COMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(withOptionalField, v1).getType());
  }

  @Test
  void everyFieldAndNamedTypeIsDocumented() {
    for (Schema schema : TOPIC_SCHEMAS) {
      List<String> undocumented = new ArrayList<>();
      collectUndocumented(schema, new HashSet<>(), undocumented);
      assertTrue(undocumented.isEmpty(), schema.getName() + " lacks docs on " + undocumented);
    }
  }

  private static void collectUndocumented(Schema schema, Set<String> seen, List<String> missing) {
    switch (schema.getType()) {
      case RECORD -> {
        if (!seen.add(schema.getFullName())) {
          return;
        }
        if (schema.getDoc() == null) {
          missing.add(schema.getFullName());
        }
        for (Schema.Field field : schema.getFields()) {
          if (field.doc() == null || field.doc().isBlank()) {
            missing.add(schema.getName() + "." + field.name());
          }
          collectUndocumented(field.schema(), seen, missing);
        }
      }
      case ENUM -> {
        if (seen.add(schema.getFullName()) && schema.getDoc() == null) {
          missing.add(schema.getFullName());
        }
      }
      case UNION -> schema.getTypes().forEach(t -> collectUndocumented(t, seen, missing));
      case ARRAY -> collectUndocumented(schema.getElementType(), seen, missing);
      case MAP -> collectUndocumented(schema.getValueType(), seen, missing);
      default -> {}
    }
  }

  private static void assertIncompatible(Schema reader, Schema writer) {
    var result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    assertEquals(SchemaCompatibilityType.INCOMPATIBLE, result.getType(), result.getDescription());
  }

  /** The released versions of {@code name}, v1 first, up to the first missing number. */
  static List<Schema> releasedVersions(String name) throws IOException {
    List<Schema> versions = new ArrayList<>();
    for (int v = 1; ; v++) {
      try (InputStream in = resource(name, v)) {
        if (in == null) {
          return versions;
        }
        versions.add(parse(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
      }
    }
  }

  private static String text(String name, int version) throws IOException {
    try (InputStream in = resource(name, version)) {
      assertNotNull(in, name + " v" + version + " is not released");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static InputStream resource(String name, int version) {
    return SchemaEvolutionTest.class.getResourceAsStream(
        "/released/" + name + "-v" + version + ".avsc");
  }

  private static Schema parse(String text) {
    return new Schema.Parser().parse(text);
  }
}
