package io.latentstream.sampling;

import java.util.List;

/**
 * Watches generated text for stop strings across token boundaries.
 *
 * <p>Text that could be the start of a stop string is held back until the next token decides, so a
 * consumer never sees part of a stop string; a match ends generation and the stop string itself is
 * not emitted (as in OpenAI's and vLLM's APIs).
 */
public final class StopStrings {
  private final List<String> stops;
  private final StringBuilder held = new StringBuilder();
  private boolean stopped;

  public StopStrings(List<String> stops) {
    this.stops = List.copyOf(stops);
  }

  /** Feeds newly decoded text; returns the text that may be emitted now. */
  public String accept(String delta) {
    if (stopped) {
      throw new IllegalStateException("generation already stopped");
    }
    held.append(delta);
    int earliest = -1;
    for (String stop : stops) {
      int at = held.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) {
        earliest = at;
      }
    }
    if (earliest >= 0) {
      stopped = true;
      String emitted = held.substring(0, earliest);
      held.setLength(0);
      return emitted;
    }
    int keep = longestSuffixThatStartsAStop();
    String emitted = held.substring(0, held.length() - keep);
    held.delete(0, held.length() - keep);
    return emitted;
  }

  /** Whether a stop string has appeared. */
  public boolean stopped() {
    return stopped;
  }

  /** Releases held-back text when generation ends for another reason (length, EOS). */
  public String flush() {
    String rest = held.toString();
    held.setLength(0);
    return rest;
  }

  private int longestSuffixThatStartsAStop() {
    String text = held.toString();
    int longest = 0;
    for (String stop : stops) {
      for (int length = Math.min(stop.length() - 1, text.length()); length > longest; length--) {
        if (text.regionMatches(text.length() - length, stop, 0, length)) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
