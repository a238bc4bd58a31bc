package io.latentstream.ops;

import static io.latentstream.ops.LatentstreamCliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport.Result;
import org.junit.jupiter.api.Test;

class LatentstreamCliTest {
  @Test
  void helpListsTheToolAndExitsZero() {
    Result result = run("--help");
    assertEquals(0, result.exitCode());
    assertTrue(result.out().contains("Usage: latentstream"), result.out());
  }

  @Test
  void versionComesFromTheBuild() {
    Result result = run("--version");
    assertEquals(0, result.exitCode());
    assertTrue(result.out().matches("(?s)latentstream \\d+\\.\\d+\\.\\d+.*"), result.out());
  }

  @Test
  void unknownOptionFailsWithAMessage() {
    Result result = run("--no-such-option");
    assertEquals(2, result.exitCode());
    assertTrue(result.err().contains("Unknown option"), result.err());
  }
}
