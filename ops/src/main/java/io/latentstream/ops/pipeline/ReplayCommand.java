package io.latentstream.ops.pipeline;

import io.latentstream.replay.Replay;
import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.serving.ServedModel;
import io.latentstream.topology.PromptLimits;
import io.latentstream.topology.Topics;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code latentstream replay}: regenerates the prompts of the log with the model and compares them
 * with the recorded tokens, token events and chunks alike. Exit code 0: every checked request
 * identical; 1: a divergence (with {@code --verify}); 2: refused (another weights digest or
 * backend, the recorded backend not available here) or failed.
 */
@Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    description = {
      "Replays prompt events from the log, regenerates them with the model and compares the tokens"
          + " with the recorded ones (read_committed). Sessions are replayed in order, each turn"
          + " on the history the service gave it.",
      "Exit code 0: identical; 1: a request diverges (with --verify); 2: refused or failed."
    })
public final class ReplayCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Mixin PipelineOptions pipeline;

  @Option(
      names = "--backend",
      defaultValue = "recorded",
      description =
          "The backend to regenerate on: recorded (default: the one the requests' token events"
              + " name, which alone reproduces them bitwise), cpu, cuda or auto.")
  String backend;

  @Option(
      names = "--allow-different-backend",
      description =
          "Compare requests generated on another backend than --backend's; their divergences are"
              + " reported as expected (the backends' logits differ in the last bits).")
  boolean allowDifferentBackend;

  static final class From {
    @Option(
        names = "--from-offset",
        description = "Verify prompts from this offset on, in every partition of prompts.")
    Long offset;

    @Option(
        names = "--from-time",
        description =
            "Verify prompts published at or after this time (ISO-8601, e.g. 2026-11-28T18:00:00Z).")
    String time;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  From from;

  @Option(names = "--to-offset", description = "Last offset to replay (inclusive), per partition.")
  Long toOffset;

  @Option(names = "--to-time", description = "Replay prompts published up to this time (ISO-8601).")
  String toTime;

  @Option(
      names = "--request",
      description = "Verify only this request (its session's earlier turns give the history).")
  String requestId;

  @Option(names = "--verify", description = "Exit with code 1 when a request diverges.")
  boolean verify;

  @Option(
      names = "--model",
      defaultValue = "models/brown-mtp",
      description = "Checkpoint directory of the served model (default ${DEFAULT-VALUE}).")
  Path model;

  @Option(
      names = "--model-id",
      description = "Model id for the written events (default: the directory's name).")
  String modelId;

  @Option(
      names = "--allow-different-digest",
      description = "Compare even when the recorded weights digest is not the model's.")
  boolean allowDifferentDigest;

  @Option(
      names = "--output-topic",
      description =
          "Write the regenerated token events to this topic (full name) for inspection; requests"
              + " recorded as chunks are written as chunks, to this name with -chunks appended.")
  String outputTopic;

  @Option(
      names = "--max-new-tokens-limit",
      defaultValue = "1024",
      description =
          "The service's max_new_tokens limit, so the same prompts are refused (default ${DEFAULT-VALUE}).")
  int maxNewTokensLimit;

  @Option(
      names = "--prompt-limit",
      paramLabel = "NAME=BYTES",
      description =
          "One of the service's latentstream.prompt-limits when not the default (e.g."
              + " max-id-bytes=64), so the same prompts are refused; repeatable.")
  Map<String, Integer> promptLimits = new java.util.HashMap<>();

  /**
   * Exit codes: 0 every request identical (or not verifying), 1 a request diverged (with {@code
   * --verify}), 2 replay could not be carried out (bad arguments, another model, an internal
   * failure): never 1, which an auditor reads as a divergence.
   */
  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    try {
      return replay();
    } catch (RuntimeException | OutOfMemoryError e) {
      err.println("latentstream replay: internal failure, nothing verified: " + e);
      e.printStackTrace(err);
      return 2;
    }
  }

  private int replay() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Replay.Range range;
    try {
      range =
          new Replay.Range(
              from.offset == null ? 0 : from.offset,
              toOffset == null ? Long.MAX_VALUE : toOffset,
              from.time == null ? null : Instant.parse(from.time),
              toTime == null ? null : Instant.parse(toTime),
              requestId);
    } catch (DateTimeParseException e) {
      err.println("latentstream replay: " + e.getMessage());
      return 2;
    }
    if (!Files.isDirectory(model)) {
      err.println("latentstream replay: model directory " + model + " does not exist");
      return 2;
    }
    PromptLimits limits;
    try {
      limits = PromptLimits.defaults().withMaxNewTokens(maxNewTokensLimit).with(promptLimits);
    } catch (IllegalArgumentException e) {
      err.println("latentstream replay: " + e.getMessage());
      return 2;
    }
    Topics topics = pipeline.topics();
    String id = modelId != null ? modelId : model.getFileName().toString();
    GenerationLoop.Settings settings = GenerationLoop.Settings.defaults();
    String chosen = backend;
    if (chosen.equals("recorded")) {
      Set<String> recorded = Replay.recordedBackends(topics, pipeline.clientProperties(), range);
      if (recorded.size() > 1) {
        err.println(
            "latentstream replay: refused: the range holds requests generated on "
                + String.join(" and ", recorded)
                + "; replay each backend's requests apart (--request, a range), or choose"
                + " --backend and pass --allow-different-backend");
        return 2;
      }
      chosen = recorded.isEmpty() ? "cpu" : recorded.iterator().next();
    }
    Backends.Loaded loaded;
    try {
      loaded =
          Backends.load(
              chosen,
              model,
              Backends.CudaSizes.forLoop(
                  settings.maxRunning(),
                  settings.maxStepTokens(),
                  Backends.CudaSizes.DEFAULT_CACHE_BYTES));
    } catch (IllegalStateException e) {
      err.println(
          "latentstream replay: refused: cannot regenerate on "
              + chosen
              + " here ("
              + e.getMessage()
              + "); pass --backend cpu --allow-different-backend to compare on the CPU anyway");
      return 2;
    }
    try (loaded;
        ServedModel served = ServedModel.serve(loaded.engine(), model, id, settings)) {
      Replay.Report report;
      try {
        report =
            new Replay(served, topics, pipeline.clientProperties(), limits)
                .verify(
                    range,
                    new Replay.Allow(
                        allowDifferentDigest || !verify, allowDifferentBackend || !verify),
                    outputTopic);
      } catch (Replay.MismatchException e) {
        err.println("latentstream replay: refused: " + e.getMessage());
        return 2;
      }
      out.printf(
          "replayed %s with %s (%s) on %s: requests checked %d, identical %d, diverging %d;"
              + " refused prompts %d; turns after an expired session %d;"
              + " request ids accepted again after their retention %d%n",
          topics.prompts().name(),
          id,
          served.weightsDigest(),
          loaded.backend().name().toLowerCase(Locale.ROOT),
          report.checked(),
          report.identical(),
          report.diverging().size(),
          report.refused(),
          report.restartedSessions(),
          report.reacceptedIds());
      report.diverging().forEach(d -> out.println("  " + d));
      if (outputTopic != null) {
        out.println(
            "regenerated token events written to "
                + outputTopic
                + ", chunks to "
                + Replay.chunksTopic(outputTopic));
      }
      out.flush();
      return verify && !report.ok() ? 1 : 0;
    }
  }
}
