package io.latentstream.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
  @Test
  void stopsOnAStringSplitAcrossTokensAndNeverEmitsPartOfIt() {
    StopStrings stops = new StopStrings(List.of("\n\nUser:"));
    StringBuilder out = new StringBuilder();
    for (String delta : List.of("Hello", " there", "\n", "\nUs", "er", ": more")) {
      String emitted = stops.accept(delta);
      assertFalse(emitted.contains("\n"), "emitted part of the stop string: " + emitted);
      out.append(emitted);
      if (stops.stopped()) {
        break;
      }
    }
    assertTrue(stops.stopped());
    assertEquals("Hello there", out.toString());
  }

  @Test
  void releasesHeldTextWhenTheCandidateDoesNotComplete() {
    StopStrings stops = new StopStrings(List.of("END"));
    assertEquals("the ", stops.accept("the E"));
    assertEquals("", stops.accept("N")); // "EN" may still become "END"
    assertEquals("ENope", stops.accept("ope"));
    assertFalse(stops.stopped());
  }

  @Test
  void theEarliestOfSeveralStopsWins() {
    StopStrings stops = new StopStrings(List.of("world", "lo"));
    assertEquals("hel", stops.accept("hello world"));
    assertTrue(stops.stopped());
  }

  @Test
  void flushReturnsTheHeldTailAtTheEnd() {
    StopStrings stops = new StopStrings(List.of("###"));
    assertEquals("answer ", stops.accept("answer #"));
    assertEquals("#", stops.flush());
  }
}
