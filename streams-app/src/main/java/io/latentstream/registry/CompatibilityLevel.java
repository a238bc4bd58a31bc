package io.latentstream.registry;

import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;

/**
 * The Schema Registry compatibility levels, checked with Avro's own {@link SchemaCompatibility}.
 * BACKWARD means consumers on the new schema can read data written with the previous one, so
 * consumers are upgraded first; the transitive levels check every earlier version, not only the
 * latest.
 */
public enum CompatibilityLevel {
  NONE(false, false, false),
  BACKWARD(true, false, false),
  BACKWARD_TRANSITIVE(true, false, true),
  FORWARD(false, true, false),
  FORWARD_TRANSITIVE(false, true, true),
  FULL(true, true, false),
  FULL_TRANSITIVE(true, true, true);

  private final boolean newReadsOld;
  private final boolean oldReadsNew;
  private final boolean transitive;

  CompatibilityLevel(boolean newReadsOld, boolean oldReadsNew, boolean transitive) {
    this.newReadsOld = newReadsOld;
    this.oldReadsNew = oldReadsNew;
    this.transitive = transitive;
  }

  /**
   * Why {@code candidate} may not follow {@code existing} (oldest first) under this level; empty
   * when it may.
   */
  public List<String> incompatibilities(Schema candidate, List<Schema> existing) {
    if (existing.isEmpty() || this == NONE) {
      return List.of();
    }
    List<Schema> checked = transitive ? existing : List.of(existing.get(existing.size() - 1));
    List<String> problems = new java.util.ArrayList<>();
    for (Schema previous : checked) {
      if (newReadsOld) {
        problems.addAll(
            describe(
                SchemaCompatibility.checkReaderWriterCompatibility(candidate, previous),
                "new schema reading old data"));
      }
      if (oldReadsNew) {
        problems.addAll(
            describe(
                SchemaCompatibility.checkReaderWriterCompatibility(previous, candidate),
                "old schema reading new data"));
      }
    }
    return problems;
  }

  private static List<String> describe(SchemaPairCompatibility result, String direction) {
    if (result.getType() == SchemaCompatibilityType.COMPATIBLE) {
      return List.of();
    }
    return result.getResult().getIncompatibilities().stream()
        .map(i -> direction + ": " + i.getType() + " at " + i.getLocation() + ": " + i.getMessage())
        .toList();
  }
}
