package io.latentstream.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/** The reference data beside the checkout, found through {@code -Dlatentstream.shared}. */
final class SharedData {
  private SharedData() {}

  /** A path under the shared directory, which must exist. */
  static Path path(String relative) {
    String shared = System.getProperty("latentstream.shared");
    if (shared == null) {
      throw new IllegalStateException(
          "system property latentstream.shared is not set: run the tests through Maven, which"
              + " points it at ../shared beside the checkout");
    }
    Path path = Path.of(shared).resolve(relative);
    if (!Files.exists(path)) {
      throw new IllegalStateException(
          "missing reference data " + path + ": the tests need ../shared beside the checkout");
    }
    return path;
  }

  static Path deepseekV3() {
    return path("tokenizers/deepseek-v3");
  }

  static Path brownMtp() {
    return path("models/brown-mtp");
  }
}
