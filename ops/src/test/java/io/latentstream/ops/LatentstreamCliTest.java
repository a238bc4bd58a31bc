package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class LatentstreamCliTest {
  private record Result(int exitCode, String out, String err) {}

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = LatentstreamCli.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int code = cli.execute(args);
    return new Result(code, out.toString(), err.toString());
  }

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
