package io.latentstream.topology;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.engine.Engine;
import io.latentstream.engine.cpu.CpuEngine;
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
    return load(dir, modelId, settings, new VectorKernels());
  }

  /** Loads the checkpoint in {@code dir} onto the given kernels and starts its generation loop. */
  public static ServedModel load(
      Path dir, String modelId, GenerationLoop.Settings settings, Kernels kernels) {
    try {
      Engine engine = CpuEngine.load(dir, kernels);
      Tokenizer tokenizer =
          Files.exists(dir.resolve("tokenizer.json")) ? Tokenizer.load(dir) : null;
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
    } catch (IOException e) {
      throw new UncheckedIOException("cannot load the model in " + dir, e);
    }
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
