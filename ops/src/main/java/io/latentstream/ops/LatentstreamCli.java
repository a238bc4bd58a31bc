package io.latentstream.ops;

import io.latentstream.ops.local.BrokerCommand;
import io.latentstream.ops.local.RegistryCommand;
import io.latentstream.ops.local.TopicsCommand;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code latentstream} command line: one subcommand per operational task. */
@Command(
    name = "latentstream",
    mixinStandardHelpOptions = true,
    versionProvider = LatentstreamCli.Version.class,
    description = "Event-driven LLM inference on Kafka for DeepSeek-V3-architecture models.",
    subcommands = {
      CommandLine.HelpCommand.class,
      BrokerCommand.class,
      RegistryCommand.class,
      TopicsCommand.class
    })
public final class LatentstreamCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line, shared by {@link #main} and the tests. */
  static CommandLine commandLine() {
    return new CommandLine(new LatentstreamCli());
  }

  /** Reads the project version that the build wrote into the jar. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
      Properties properties = new Properties();
      try (InputStream in =
          LatentstreamCli.class.getResourceAsStream("/latentstream-version.properties")) {
        if (in != null) {
          properties.load(in);
        }
      }
      return new String[] {"latentstream " + properties.getProperty("version", "unknown")};
    }
  }
}
