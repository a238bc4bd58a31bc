package io.latentstream.topology;

import java.util.Map;

/**
 * What one prompt may hold, checked before it is tokenized, stored or echoed into an event: every
 * output event carries the request and session ids, so their limits bound every event's size; the
 * input's bytes bound the tokenizer's work.
 *
 * @param maxNewTokens the largest max_new_tokens a prompt may ask for
 * @param maxIdBytes request_id, session_id and tenant, in UTF-8 bytes
 * @param maxStopStrings stop strings per prompt
 * @param maxStopBytes bytes of one stop string
 * @param maxMetadataEntries metadata entries per prompt
 * @param maxMetadataBytes bytes of all metadata keys and values together
 * @param maxInputBytes bytes of the input (text, or all chat roles and contents) before it is
 *     tokenized; beyond the model's context, a tighter bound applies (see {@link PromptValidator})
 */
public record PromptLimits(
    int maxNewTokens,
    int maxIdBytes,
    int maxStopStrings,
    int maxStopBytes,
    int maxMetadataEntries,
    int maxMetadataBytes,
    int maxInputBytes) {

  public static PromptLimits defaults() {
    return new PromptLimits(1024, 128, 16, 256, 64, 16 * 1024, 1 << 20);
  }

  public PromptLimits withMaxNewTokens(int limit) {
    return new PromptLimits(
        limit,
        maxIdBytes,
        maxStopStrings,
        maxStopBytes,
        maxMetadataEntries,
        maxMetadataBytes,
        maxInputBytes);
  }

  /**
   * These limits with some replaced by name, as configured ({@code max-id-bytes=64}): how {@code
   * replay} is told a deployment's limits.
   *
   * @throws IllegalArgumentException for a name that is not a limit
   */
  public PromptLimits with(Map<String, Integer> changes) {
    int[] v = {
      maxNewTokens,
      maxIdBytes,
      maxStopStrings,
      maxStopBytes,
      maxMetadataEntries,
      maxMetadataBytes,
      maxInputBytes
    };
    String[] names = {
      "max-new-tokens",
      "max-id-bytes",
      "max-stop-strings",
      "max-stop-bytes",
      "max-metadata-entries",
      "max-metadata-bytes",
      "max-input-bytes"
    };
    changes.forEach(
        (name, value) -> {
          int i = java.util.Arrays.asList(names).indexOf(name);
          if (i < 0) {
            throw new IllegalArgumentException(
                "no prompt limit named " + name + "; the limits are " + String.join(", ", names));
          }
          v[i] = value;
        });
    return new PromptLimits(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
  }
}
