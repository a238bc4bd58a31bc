package io.latentstream.registry.embedded;

import io.latentstream.registry.CompatibilityLevel;
import io.latentstream.registry.SchemaVersion;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.avro.Schema;

/**
 * The embedded registry's in-memory view, rebuilt from the schemas topic and updated by the same
 * {@link #apply} for replayed and newly written records, so both paths cannot disagree. Not thread
 * safe: the server serializes access.
 */
final class RegistryState {
  private final Map<Integer, Schema> schemaById = new HashMap<>();
  private final Map<String, Integer> idByCanonicalText = new HashMap<>();
  private final TreeMap<String, List<SchemaVersion>> versionsBySubject = new TreeMap<>();
  private final Map<String, CompatibilityLevel> subjectCompatibility = new HashMap<>();
  private CompatibilityLevel globalCompatibility;
  private int maxId;

  RegistryState(CompatibilityLevel defaultCompatibility) {
    this.globalCompatibility = defaultCompatibility;
  }

  /** Applies one record of the schemas topic (see {@link SchemasTopicFormat}). */
  void apply(SchemasTopicFormat.Entry entry) {
    if (entry instanceof SchemasTopicFormat.SchemaEntry s) {
      Schema schema = new Schema.Parser().parse(s.schema());
      schemaById.putIfAbsent(s.id(), schema);
      idByCanonicalText.putIfAbsent(canonical(schema), s.id());
      maxId = Math.max(maxId, s.id());
      List<SchemaVersion> versions =
          versionsBySubject.computeIfAbsent(s.subject(), k -> new ArrayList<>());
      versions.removeIf(v -> v.version() == s.version());
      versions.add(new SchemaVersion(s.subject(), s.version(), s.id(), schema));
      versions.sort(java.util.Comparator.comparingInt(SchemaVersion::version));
    } else if (entry instanceof SchemasTopicFormat.ConfigEntry c) {
      if (c.subject() == null) {
        globalCompatibility = c.level();
      } else if (c.level() == null) {
        subjectCompatibility.remove(c.subject());
      } else {
        subjectCompatibility.put(c.subject(), c.level());
      }
    }
  }

  /**
   * The text that identifies a schema: Avro's normalized JSON (whitespace and attribute order do
   * not matter; docs and defaults do, as they change the registered schema).
   */
  static String canonical(Schema schema) {
    return schema.toString();
  }

  Optional<Integer> idOf(Schema schema) {
    return Optional.ofNullable(idByCanonicalText.get(canonical(schema)));
  }

  int nextId() {
    return maxId + 1;
  }

  Optional<Schema> schema(int id) {
    return Optional.ofNullable(schemaById.get(id));
  }

  List<String> subjects() {
    return List.copyOf(versionsBySubject.keySet());
  }

  List<SchemaVersion> versions(String subject) {
    return List.copyOf(versionsBySubject.getOrDefault(subject, List.of()));
  }

  Optional<SchemaVersion> versionWith(String subject, Schema schema) {
    String text = canonical(schema);
    return versions(subject).stream().filter(v -> canonical(v.schema()).equals(text)).findFirst();
  }

  CompatibilityLevel globalCompatibility() {
    return globalCompatibility;
  }

  Optional<CompatibilityLevel> ownCompatibility(String subject) {
    return Optional.ofNullable(subjectCompatibility.get(subject));
  }

  CompatibilityLevel compatibility(String subject) {
    return subjectCompatibility.getOrDefault(subject, globalCompatibility);
  }
}
