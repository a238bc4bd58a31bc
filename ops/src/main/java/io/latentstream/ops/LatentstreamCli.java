package io.latentstream.ops;

import io.latentstream.ops.local.BrokerCommand;
import io.latentstream.ops.local.DemoCommand;
import io.latentstream.ops.local.RegistryCommand;
import io.latentstream.ops.local.ServeCommand;
import io.latentstream.ops.local.TopicsCommand;
import io.latentstream.ops.local.UpCommand;
import io.latentstream.ops.pipeline.BenchPipelineCommand;
import io.latentstream.ops.pipeline.PublishCommand;
import io.latentstream.ops.pipeline.ReplayCommand;
import io.latentstream.ops.pipeline.TailCommand;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
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
      GenerateCommand.class,
      LogitsCommand.class,
      BenchEngineCommand.class,
      RandomCheckpointCommand.class,
      TokenizeCommand.class,
      DetokenizeCommand.class,
      BrokerCommand.class,
      RegistryCommand.class,
      TopicsCommand.class,
      UpCommand.class,
      ServeCommand.class,
      DemoCommand.class,
      PublishCommand.class,
      TailCommand.class,
      ReplayCommand.class,
      BenchPipelineCommand.class
    })
public final class LatentstreamCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    CommandLine cli = commandLine();
    // Token text is UTF-8 whatever the platform's default encoding (Java 17 follows the locale).
    cli.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
    cli.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
    System.exit(cli.execute(args));
  }

  /** The configured command line, shared by {@link #main} and the tests. */
  static CommandLine commandLine() {
    // Enum values in any case: --token-events chunk, as the service's configuration spells it.
    return new CommandLine(new LatentstreamCli()).setCaseInsensitiveEnumValuesAllowed(true);
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
