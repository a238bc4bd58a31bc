package io.latentstream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
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
          TokenChunk.getClassSchema(),
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

  /**
   * A prompt from a publisher of PromptRequest v1, before token_events existed, reads with it null:
   * the deployment's choice of token event form.
   */
  @Test
  void aPromptWithoutTheTokenEventsFieldReadsAsTheDeploymentsChoice() throws IOException {
    Schema v1 = releasedVersions("PromptRequest").get(0);
    assertNull(v1.getField("token_events"), "v1 is the release before the field");
    GenericRecord sampling = new GenericData.Record(v1.getField("sampling").schema());
    sampling.put("max_new_tokens", 8);
    sampling.put("stop", List.of());
    sampling.put("temperature", 0.0);
    sampling.put("top_p", 1.0);
    sampling.put("top_k", 0);
    GenericRecord text = new GenericData.Record(v1.getField("input").schema().getTypes().get(0));
    text.put("text", "The jury said");
    GenericRecord old = new GenericData.Record(v1);
    old.put("request_id", "r1");
    old.put("tenant", "acme");
    old.put("input", text);
    old.put("sampling", sampling);
    old.put("allow_mtp_drafting", true);
    old.put("created_at", 0L);
    old.put("metadata", Map.of());
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
    new GenericDatumWriter<GenericRecord>(v1).write(old, encoder);
    encoder.flush();
    PromptRequest read =
        new SpecificDatumReader<PromptRequest>(v1, PromptRequest.getClassSchema())
            .read(null, DecoderFactory.get().binaryDecoder(bytes.toByteArray(), null));
    assertEquals("r1", read.getRequestId());
    assertNull(read.getTokenEvents());
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
