package io.latentstream.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PhiloxTest {
  /** Known-answer vectors of Random123's kat_vectors for philox4x32_10 (first output word). */
  @Test
  void matchesTheRandom123KnownAnswers() {
    assertEquals(0x6627e8d5, Philox.word(0L, 0, 0, 0, 0));
    assertEquals(0x408f276d, Philox.word(-1L, -1, -1, -1, -1));
    long key = (0x299f31d0L << 32) | 0xa4093822L;
    assertEquals(0xd16cfe09, Philox.word(key, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344));
  }

  @Test
  void drawsDependOnSeedAndIndexOnly() {
    double u = Philox.uniform(42, 7);
    assertEquals(u, Philox.uniform(42, 7));
    assertNotEquals(u, Philox.uniform(43, 7));
    assertNotEquals(u, Philox.uniform(42, 8));
  }

  @Test
  void uniformsAreInTheUnitIntervalAndEvenlySpread() {
    int[] buckets = new int[10];
    int n = 100_000;
    for (int i = 0; i < n; i++) {
      double u = Philox.uniform(2024, i);
      assertTrue(u >= 0 && u < 1, "u=" + u);
      buckets[(int) (u * 10)]++;
    }
    // Chi-square with 9 degrees of freedom; 27.9 is the 0.999 quantile.
    double chiSquare = 0;
    for (int count : buckets) {
      double expected = n / 10.0;
      chiSquare += (count - expected) * (count - expected) / expected;
    }
    assertTrue(chiSquare < 27.9, "chi-square " + chiSquare);
  }
}
