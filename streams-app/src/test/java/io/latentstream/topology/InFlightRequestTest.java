package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentstream.sampling.SamplingParams;
import io.latentstream.schemas.TokenEventForm;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The in-flight store's records: what a restarted or upgraded instance reads back, including
 * records an earlier version of the service wrote.
 */
class InFlightRequestTest {
  /**
   * A request as format version 2 (before token event forms) stored it: request r1 of session s1 of
   * tenant acme, at offset 7, prompt [0, 478], temperature 0.5, top-p 0.9, top-k 4, seed 42, 16 new
   * tokens at most, stop "\n", drafting, accepted at 1000 ms, claimed, tokens [5, 6, 7] forwarded.
   */
  private static final String VERSION_2 =
      "020000000272310000000461636d6500000002733100000000000000070000000200000000000001de00013fe0"
          + "0000000000003feccccccccccccd00000004000000000000002a0000001000000001000000010a000000"
          + "00000003e80100000003000000050000000600000007";

  @Test
  void aRequestStoredBeforeTokenEventFormsContinuesWithTokenEvents() {
    InFlightRequest request = InFlightRequest.fromBytes(HexFormat.of().parseHex(VERSION_2));
    assertEquals(TokenEventForm.TOKEN, request.tokenEvents());
    assertEquals("r1", request.requestId());
    assertEquals(new SessionKey("acme", "s1"), request.session());
    assertEquals(7, request.offset());
    assertEquals(new SamplingParams(0.5, 0.9, 4, 42, 16, List.of("\n")), request.turn().params());
    assertArrayEquals(new int[] {0, 478}, request.turn().tokens());
    assertEquals(true, request.claimed());
    assertArrayEquals(new int[] {5, 6, 7}, request.generated());
  }

  @Test
  void aChunkFormRequestKeepsItsFormThroughTheStore() {
    InFlightRequest request =
        new InFlightRequest(
            "r2",
            null,
            "acme",
            3,
            new Turn(new int[] {1}, SamplingParams.greedy(8), false, true),
            TokenEventForm.CHUNK,
            5,
            false,
            new int[0]);
    InFlightRequest read =
        InFlightRequest.fromBytes(request.asClaimed().withGenerated(new int[] {9, 8}).toBytes());
    assertEquals(TokenEventForm.CHUNK, read.tokenEvents());
    assertEquals(true, read.claimed());
    assertArrayEquals(new int[] {9, 8}, read.generated());
    assertEquals(null, read.session());
    assertEquals(true, read.turn().chat());
  }
}
