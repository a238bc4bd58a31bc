package io.latentstream.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    String digest = WeightsDigest.of(dir);
    assertTrue(digest.matches("sha256:[0-9a-f]{64}"), digest);

    write("README.md", "documentation does not change the outputs");
    assertEquals(digest, WeightsDigest.of(dir));

    write("model-00002-of-00002.safetensors", "second shard, retrained");
    assertNotEquals(digest, WeightsDigest.of(dir));
  }

  @Test
  void fileNamesAreHashedSoMovedBytesChangeTheDigest() throws Exception {
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
}
