package io.latentstream.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.testing.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every way a checkpoint can be broken gives an error naming the file and the tensor. */
class CheckpointErrorsTest {
  @TempDir Path dir;

  private Path model() throws IOException {
    SyntheticCheckpoint.write(dir, SyntheticCheckpoint.baseConfig(), 1, false);
    return dir.resolve("model.safetensors");
  }

  private IOException loadFails() {
    return assertThrows(IOException.class, () -> CpuEngine.load(dir));
  }

  @Test
  void writerRoundTripsF32AndBf16() throws IOException {
    Path f = dir.resolve("t.safetensors");
    float[] a = {1.5f, -2.25f, 3.0e-3f, 7f, 0f, -0f};
    new SafetensorsWriter().add("a", DType.F32, a, 2, 3).add("b", DType.BF16, a, 6).write(f);
    try (SafetensorsFile sf = SafetensorsFile.open(f)) {
      TensorInfo ta = sf.tensors().get("a");
      float[] back = new float[6];
      ta.dtype().decode(sf.bytes(ta), 0, back, 0, 6);
      assertArrayEquals(a, back);
      TensorInfo tb = sf.tensors().get("b");
      tb.dtype().decode(sf.bytes(tb), 0, back, 0, 6);
      assertEquals(3.0e-3f, back[2], 3.0e-3f / 128, "bf16 keeps 8 bits of mantissa");
      assertEquals(-2.25f, back[1]);
    }
  }

  @Test
  void missingTensorNamesTheTensor() throws IOException {
    Path file = model();
    SafetensorsWriter w = new SafetensorsWriter();
    try (SafetensorsFile sf = SafetensorsFile.open(file)) {
      for (TensorInfo t : sf.tensors().values()) {
        if (!t.name().equals("model.layers.1.self_attn.kv_b_proj.weight")) {
          float[] v = new float[(int) t.elements()];
          t.dtype().decode(sf.bytes(t), 0, v, 0, v.length);
          w.add(t.name(), t.dtype(), v, t.shape());
        }
      }
    }
    w.write(file);
    IOException e = loadFails();
    assertTrue(
        e.getMessage().contains("missing tensor 'model.layers.1.self_attn.kv_b_proj.weight'"),
        e.getMessage());
  }

  @Test
  void shapeDisagreeingWithTheConfigNamesFileAndTensor() throws IOException {
    model();
    // The same weights read under a config with a wider kv_lora_rank.
    Files.writeString(
        dir.resolve("config.json"),
        Files.readString(dir.resolve("config.json"))
            .replace("\"kv_lora_rank\" : 24", "\"kv_lora_rank\" : 32"));
    IOException e = loadFails();
    assertTrue(
        e.getMessage().contains("model.safetensors: tensor 'model.layers.0.self_attn"),
        e.getMessage());
    assertTrue(e.getMessage().contains("the config implies"), e.getMessage());
  }

  @Test
  void truncatedFileNamesFileAndTensor() throws IOException {
    Path file = model();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 10);
    }
    IOException e = loadFails();
    assertTrue(e.getMessage().contains("model.safetensors: tensor '"), e.getMessage());
    assertTrue(e.getMessage().contains("truncated file"), e.getMessage());
  }

  @Test
  void badHeaderNamesTheFile() throws IOException {
    Path file = model();
    byte[] bytes = Files.readAllBytes(file);
    bytes[8] = 'x';
    Files.write(file, bytes);
    IOException e = loadFails();
    assertTrue(e.getMessage().contains("model.safetensors: bad header"), e.getMessage());

    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(-5);
    System.arraycopy(len.array(), 0, bytes, 0, 8);
    Files.write(file, bytes);
    assertTrue(loadFails().getMessage().contains("bad header"));

    Files.write(file, "{}".getBytes(StandardCharsets.UTF_8));
    assertTrue(loadFails().getMessage().contains("truncated file"));
  }

  @Test
  void offsetsThatDisagreeWithTheDtypeAreABadHeader() throws IOException {
    Path f = dir.resolve("model.safetensors");
    String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}";
    ByteBuffer b = ByteBuffer.allocate(8 + header.length() + 16).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(header.length()).put(header.getBytes(StandardCharsets.UTF_8));
    Files.write(f, b.array());
    IOException e = assertThrows(IOException.class, () -> SafetensorsFile.open(f));
    assertTrue(e.getMessage().contains("tensor 'w': bad header"), e.getMessage());
  }

  @Test
  void loadingReportsProgressUpToEveryByte() throws IOException {
    model();
    java.util.List<long[]> calls = new java.util.ArrayList<>();
    CpuEngine.load(
        dir,
        new io.latentstream.backend.cpu.ReferenceKernels(),
        (tensor, read, total) -> calls.add(new long[] {read, total}));
    long total = Files.size(dir.resolve("model.safetensors"));
    assertTrue(calls.size() > 10, "one report per tensor");
    for (int i = 1; i < calls.size(); i++) {
      assertTrue(calls.get(i)[0] > calls.get(i - 1)[0], "progress only grows");
    }
    long[] last = calls.get(calls.size() - 1);
    assertEquals(last[1], last[0], "every tensor of the synthetic checkpoint is read");
    assertTrue(last[1] < total && last[1] > total * 9 / 10, "total counts tensor data only");
  }

  @Test
  void missingShardNamesTheFile() throws IOException {
    SyntheticCheckpoint.write(dir, SyntheticCheckpoint.baseConfig(), 2, true);
    Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
    IOException e = loadFails();
    assertTrue(
        e.getMessage().contains("model-00002-of-00002.safetensors: missing file"), e.getMessage());
  }

  @Test
  void missingDirectoryIsAClearError() {
    IOException e = assertThrows(IOException.class, () -> CpuEngine.load(dir.resolve("nope")));
    assertTrue(e.getMessage().contains("nope"), e.getMessage());
  }
}
