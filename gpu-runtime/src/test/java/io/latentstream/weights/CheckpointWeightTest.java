package io.latentstream.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.latentstream.model.ModelConfig;
import io.latentstream.testing.SharedData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Checkpoint#weight} reads each weight as stored (bf16 bits, fp8 bytes and scales, fp32),
 * and widened it is bitwise what {@link Checkpoint#read} decodes, across chunk boundaries too.
 */
class CheckpointWeightTest {
  @TempDir Path dir;

  @Test
  void bf16AndF32WeightsReadAsStoredAcrossChunks() throws IOException {
    // 700 x 1000 bf16 is 1.4 MB: two read chunks, the second partial.
    int rows = 700;
    int cols = 1000;
    Random rnd = new Random(3);
    float[] a = new float[rows * cols];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    new SafetensorsWriter()
        .add("b", DType.BF16, a, rows, cols)
        .add("f", DType.F32, a, rows, cols)
        .write(dir.resolve("model.safetensors"));
    try (Checkpoint ck = Checkpoint.open(dir, Checkpoint.Progress.NONE)) {
      Weight.Bf16 b = assertInstanceOf(Weight.Bf16.class, ck.weight("b", rows, cols));
      for (int i = 0; i < a.length; i += 997) {
        assertEquals(SafetensorsWriter.toBf16(a[i]), b.bits()[i], "bits of element " + i);
      }
      assertArrayEquals(ck.read("b", rows, cols), b.toFloats());
      Weight.F32 f = assertInstanceOf(Weight.F32.class, ck.weight("f", rows, cols));
      assertArrayEquals(a, f.values());
    }
  }

  @Test
  void fp8WeightsKeepTheirBytesAndWidenToTheDequantizedValues() throws IOException {
    Path model = SharedData.model("tiny-a-fp8");
    try (Checkpoint ck = Checkpoint.open(model, Checkpoint.Progress.NONE)) {
      ck.setBlockSize(ModelConfig.load(model).fp8BlockSize());
      int fp8 = 0;
      for (TensorInfo t : ck.tensors().values()) {
        if (t.shape().length != 2 || t.name().endsWith(Checkpoint.SCALE_SUFFIX)) {
          continue;
        }
        int rows = (int) t.shape()[0];
        int cols = (int) t.shape()[1];
        Weight w = ck.weight(t.name(), rows, cols);
        if (t.dtype() == DType.F8_E4M3) {
          fp8++;
          assertInstanceOf(Weight.Fp8.class, w);
          assertEquals(128, ((Weight.Fp8) w).block());
        }
        assertArrayEquals(ck.read(t.name(), rows, cols), w.toFloats(), t.name());
      }
      assertEquals(true, fp8 > 0, "tiny-a-fp8 has fp8 weights");
    }
  }
}
