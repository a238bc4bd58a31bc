package io.latentstream.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.weights.SafetensorsFile;
import io.latentstream.weights.TensorInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The read-only reference data beside the checkout (system property latentstream.shared). */
public final class SharedData {
  private SharedData() {}

  public static Path models() {
    String dir = System.getProperty("latentstream.shared");
    if (dir == null) {
      throw new IllegalStateException(
          "system property latentstream.shared is not set (the build sets it to ../shared)");
    }
    Path models = Path.of(dir).resolve("models");
    if (!Files.isDirectory(models)) {
      throw new IllegalStateException(
          "reference data missing: " + models + " does not exist (check out ../shared)");
    }
    return models;
  }

  public static Path model(String name) {
    return models().resolve(name);
  }

  public static JsonNode goldenJson(String model) {
    try {
      return new ObjectMapper().readTree(model(model).resolve("golden.json").toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A golden F32 tensor as [rows][cols] (1-D tensors as one row). */
  public static float[][] golden(String model, String name) {
    try (SafetensorsFile f = SafetensorsFile.open(model(model).resolve("golden.safetensors"))) {
      TensorInfo t = f.tensors().get(name);
      if (t == null) {
        throw new IllegalStateException("golden.safetensors of " + model + " has no " + name);
      }
      int rows = t.shape().length == 1 ? 1 : (int) t.shape()[0];
      int cols = (int) (t.elements() / rows);
      float[] flat = new float[rows * cols];
      t.dtype().decode(f.bytes(t), 0, flat, 0, flat.length);
      float[][] out = new float[rows][cols];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(flat, r * cols, out[r], 0, cols);
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static boolean hasGolden(String model, String name) {
    try (SafetensorsFile f = SafetensorsFile.open(model(model).resolve("golden.safetensors"))) {
      return f.tensors().containsKey(name);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
