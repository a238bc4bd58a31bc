package io.latentstream.ops;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** A command whose failures are one line on stderr and exit code 1, never a stack trace. */
abstract class EngineCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public final Integer call() {
    try {
      run();
      spec.commandLine().getOut().flush();
      return 0;
    } catch (Exception e) {
      String msg = e.getMessage() == null ? e.toString() : e.getMessage();
      spec.commandLine()
          .getErr()
          .println("latentstream " + spec.name() + ": " + msg.replace('\n', ' '));
      spec.commandLine().getErr().flush();
      return 1;
    }
  }

  abstract void run() throws Exception;

  CommandLine cli() {
    return spec.commandLine();
  }
}
