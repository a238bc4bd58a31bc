package io.latentstream.ops;

import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine.Model.CommandSpec;

/** Turns a subcommand's failure into one line on stderr and exit code 1. */
final class CliErrors {
  /** A subcommand's work, which may fail with an exception whose message says why. */
  interface Work {
    void run() throws IOException;
  }

  private CliErrors() {}

  static int report(CommandSpec spec, Work work) {
    try {
      work.run();
      return 0;
    } catch (IllegalArgumentException | IOException | UncheckedIOException e) {
      Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
      String message = e.getMessage();
      if (e instanceof UncheckedIOException && cause != null) {
        message += " (" + cause.getClass().getSimpleName() + ": " + cause.getMessage() + ")";
      }
      spec.commandLine().getErr().println("latentstream " + spec.name() + ": " + message);
      spec.commandLine().getErr().flush();
      return 1;
    }
  }
}
