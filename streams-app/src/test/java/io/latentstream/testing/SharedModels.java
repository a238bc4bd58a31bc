package io.latentstream.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** The reference checkpoints beside the checkout ({@code ../shared/models}), read-only. */
public final class SharedModels {
  private SharedModels() {}

  public static Path model(String name) {
    String shared = System.getProperty("latentstream.shared", "../shared");
    Path dir = Path.of(shared, "models", name);
    if (!Files.isDirectory(dir)) {
      throw new IllegalStateException(
          "reference model "
              + dir.toAbsolutePath()
              + " is missing: the tests need ../shared (models, tokenizers) beside the checkout");
    }
    return dir;
  }
}
