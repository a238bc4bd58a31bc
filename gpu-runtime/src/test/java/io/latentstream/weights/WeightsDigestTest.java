package io.latentstream.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightsDigestTest {
  @TempDir Path dir;

  private void write(String name, String content) throws Exception {
    Files.writeString(dir.resolve(name), content);
  }

  @Test
  void digestCoversConfigAndShardsButNotOtherFiles() throws Exception {
    write("config.json", "{\"hidden_size\": 64}");
    write("model-00001-of-00002.safetensors", "first shard");
    write("model-00002-of-00002.safetensors", "second shard");
    write(
        "model.safetensors.index.json",
        "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
            + " \"b\": \"model-00002-of-00002.safetensors\"}}");
    String digest = WeightsDigest.of(dir);
    assertTrue(digest.matches("sha256:[0-9a-f]{64}"), digest);

    write("README.md", "documentation does not change the outputs");
    write("golden.safetensors", "test data beside the weights is not part of them");
    assertEquals(digest, WeightsDigest.of(dir));

    write("model-00002-of-00002.safetensors", "second shard, retrained");
    assertNotEquals(digest, WeightsDigest.of(dir));
  }

  @Test
  void fileNamesAreHashedSoMovedBytesChangeTheDigest() throws Exception {
    write(
        "model.safetensors.index.json",
        "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"b.safetensors\"}}");
    write("config.json", "{}");
    write("a.safetensors", "xy");
    write("b.safetensors", "");
    String before = WeightsDigest.of(dir);
    write("a.safetensors", "x");
    write("b.safetensors", "y");
    assertNotEquals(before, WeightsDigest.of(dir));
  }

  @Test
  void aDirectoryWithoutWeightsIsRefused() throws Exception {
    write("config.json", "{}");
    assertThrows(IllegalArgumentException.class, () -> WeightsDigest.of(dir));
  }

  /** The demo model vendored into the repository has the weights of the reference copy. */
  @Test
  void theVendoredDemoModelHasTheReferenceWeights() {
    assertEquals(
        WeightsDigest.of(SharedData.model("brown-mtp")),
        WeightsDigest.of(Path.of("..", "models", "brown-mtp")));
  }
}
