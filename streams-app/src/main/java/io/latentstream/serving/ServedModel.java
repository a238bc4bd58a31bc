package io.latentstream.serving;

import io.latentstream.engine.Engine;
import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.tokenizer.Tokenizer;
import io.latentstream.weights.WeightsDigest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model an instance serves: the engine, its tokenizer, the generation loop that batches every
 * request of the instance, and the identity stamped on each event (model id, weights digest, engine
 * version) so that replays can check they regenerate with the same weights.
 *
 * @param tokenizer null for checkpoints without tokenizer files (token-id input only)
 */
public record ServedModel(
    Engine engine,
    Tokenizer tokenizer,
    GenerationLoop loop,
    String modelId,
    String weightsDigest,
    String engineVersion)
    implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServedModel.class);

  /** Loads the checkpoint in {@code dir} on the CPU and starts its generation loop. */
  public static ServedModel load(Path dir, String modelId, GenerationLoop.Settings settings) {
    try {
      return serve(Backends.cpu(dir).engine(), dir, modelId, settings);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot load the model in " + dir, e);
    }
  }

  /** Serves an engine loaded from the checkpoint in {@code dir}: starts its generation loop. */
  public static ServedModel serve(
      Engine engine, Path dir, String modelId, GenerationLoop.Settings settings) {
    Tokenizer tokenizer = Files.exists(dir.resolve("tokenizer.json")) ? Tokenizer.load(dir) : null;
    GenerationLoop loop = new GenerationLoop(engine, tokenizer, settings);
    loop.start();
    String digest = WeightsDigest.of(dir);
    LOG.info(
        "serving {} ({}) from {}, MTP {}",
        modelId,
        digest,
        dir,
        engine.hasMtp() && settings.mtpDrafting() ? "on" : "off");
    return new ServedModel(engine, tokenizer, loop, modelId, digest, buildVersion());
  }

  /** The version of the gpu-runtime build, as its resources record it. */
  static String buildVersion() {
    Properties properties = new Properties();
    try (InputStream in = Engine.class.getResourceAsStream("/latentstream-engine.properties")) {
      if (in != null) {
        properties.load(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return properties.getProperty("version", "unknown");
  }

  @Override
  public void close() {
    loop.close();
  }
}
