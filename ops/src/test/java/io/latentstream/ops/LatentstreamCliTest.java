package io.latentstream.ops;

import static io.latentstream.ops.LatentstreamCliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.ops.LatentstreamCliTestSupport.Result;
import io.latentstream.schemas.TokenEventForm;
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

  /** Publish's --token-events takes the form as the service's configuration spells it. */
  @Test
  void aPromptsTokenEventFormIsAnOptionInAnyCase() {
    for (String value : new String[] {"chunk", "CHUNK"}) {
      var publish =
          LatentstreamCli.commandLine()
              .parseArgs(
                  "publish",
                  "--bootstrap-servers",
                  "b:9092",
                  "--text",
                  "x",
                  "--token-events",
                  value)
              .subcommand();
      assertEquals(TokenEventForm.CHUNK, publish.matchedOptionValue("--token-events", null));
    }
    Result unknown =
        run("publish", "--bootstrap-servers", "b:9092", "--text", "x", "--token-events", "chunks");
    assertEquals(2, unknown.exitCode());
    assertTrue(unknown.err().contains("--token-events"), unknown.err());
  }

  @Test
  void unknownOptionFailsWithAMessage() {
    Result result = run("--no-such-option");
    assertEquals(2, result.exitCode());
    assertTrue(result.err().contains("Unknown option"), result.err());
  }
}
