package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.weights.SafetensorsFile;
import io.latentstream.weights.TensorInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code logits} and {@code generate} with {@code --backend cuda} on brown-mtp, in a JVM of their
 * own on the emulated CUDA device (gpu-runtime's tests build it; this JVM keeps no device, as
 * BackendChoiceTest needs), against the goldens of Hugging Face transformers' fp32 forward.
 *
 * <p>The tolerance is the device engine's stated one (EngineChecks): 2e-2 of the logits' scale,
 * since the device keeps weights in bf16 (8 significant bits) and rounds every linear layer's input
 * to bf16. A greedy token is then certain wherever the golden's top-1 lead over the runner-up
 * exceeds twice that (each of the two logits may move by the tolerance): on the golden continuation
 * the device's argmax must be the golden's token at every such position, and a free-running
 * generation may leave the golden's tokens only at a position without such a lead.
 */
class CudaCommandsTest {
  private static final double BF16_TOL = 2e-2;
  private static final Path BROWN =
      Path.of(System.getProperty("latentstream.shared"), "models", "brown-mtp");
  private static Path emulator;

  @BeforeAll
  static void emulatedDevice() {
    String folder = System.getProperty("latentstream.cuda.emulator");
    Assumptions.assumeTrue(folder != null, "runs in the Maven build, on the emulated device");
    emulator = Path.of(folder);
    Assumptions.assumeTrue(
        Files.exists(emulator.resolve("libcuda.so.1")),
        "CUDA tests skipped: the emulated CUDA device was not built (g++ missing?)");
  }

  /**
   * Golden prompts 0, 2 and 3. Prompt 1 is not here: one of its rows tips a near-tie between two
   * experts under bf16 (the effect EngineChecks describes), after which its logits legitimately
   * differ from the fp32 golden by up to 1.48 (measured on the emulator, 2026-12-05; 1.5 on the
   * H200); CudaConformanceTest holds every golden prompt, 1 included, to the tolerance up to its
   * first differently-routed row, which needs the routing this command does not write.
   */
  @ParameterizedTest
  @ValueSource(ints = {0, 2, 3})
  void logitsAndGreedyTokensMatchTheGoldensWithinTheBf16Tolerance(int p, @TempDir Path dir)
      throws Exception {
    JsonNode prompt =
        new ObjectMapper().readTree(BROWN.resolve("golden.json").toFile()).get("prompts").get(p);
    int[] input = ints(prompt.get("input_ids"));
    int[] greedy = ints(prompt.get("greedy_32"));
    int vocab = 8192;
    // The golden's logits cover the prompt and its greedy continuation.
    float[] golden = goldenLogits("logits." + p, (input.length + greedy.length) * vocab);

    Path out = dir.resolve("logits.safetensors");
    Run logits =
        cli(
            "logits",
            "--backend",
            "cuda",
            "--model",
            BROWN.toString(),
            "--prompt-ids",
            join(concat(input, greedy)),
            "--out",
            out.toString());
    assertEquals(0, logits.exit(), logits.output());
    assertTrue(logits.output().contains("emulat"), "the emulator says so: " + logits.output());
    float[] device = new float[golden.length];
    try (SafetensorsFile f = SafetensorsFile.open(out)) {
      TensorInfo t = f.tensors().get("logits");
      t.dtype().decode(f.bytes(t), 0, device, 0, device.length);
    }
    double scale = 0;
    double worst = 0;
    for (int i = 0; i < golden.length; i++) {
      scale = Math.max(scale, Math.abs(golden[i]));
      worst = Math.max(worst, Math.abs(device[i] - golden[i]));
    }
    double tolerance = BF16_TOL * scale;
    assertTrue(worst <= tolerance, "max |device - golden| " + worst + " > " + tolerance);

    // Teacher-forced on the golden continuation: the device's argmax is the golden token at every
    // position with a clear lead.
    int judged = 0;
    for (int j = 0; j < greedy.length; j++) {
      int row = (input.length - 1 + j) * vocab;
      if (lead(golden, row, vocab) > 2 * tolerance) {
        assertEquals(greedy[j], argmax(device, row, vocab), "position " + j);
        judged++;
      }
    }
    assertTrue(judged >= greedy.length / 4, judged + " positions with a clear lead");

    // Free-running: generate's tokens are the golden's until the first near-tie, the only place
    // where the device may choose the other token (after it the contexts differ).
    Run generate =
        cli(
            "generate",
            "--backend",
            "cuda",
            "--model",
            BROWN.toString(),
            "--prompt-ids",
            join(input),
            "--max-new-tokens",
            String.valueOf(greedy.length),
            "--greedy");
    assertEquals(0, generate.exit(), generate.output());
    String json =
        generate.output().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow();
    int[] tokens = ints(new ObjectMapper().readTree(json).get("tokens"));
    assertEquals(greedy.length, tokens.length, json); // token-id prompts do not stop at EOS
    int j = Arrays.mismatch(tokens, greedy);
    if (j >= 0) {
      double lead = lead(golden, (input.length - 1 + j) * vocab, vocab);
      assertTrue(
          lead <= 2 * tolerance,
          "token " + j + " differs where the golden leads by " + lead + ": " + json);
    }
  }

  private static int argmax(float[] logits, int from, int n) {
    int best = from;
    for (int i = from + 1; i < from + n; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best - from;
  }

  /** The top logit's lead over the runner-up in the row at {@code from}. */
  private static double lead(float[] logits, int from, int n) {
    float first = Float.NEGATIVE_INFINITY;
    float second = Float.NEGATIVE_INFINITY;
    for (int i = from; i < from + n; i++) {
      if (logits[i] > first) {
        second = first;
        first = logits[i];
      } else if (logits[i] > second) {
        second = logits[i];
      }
    }
    return first - second;
  }

  private record Run(int exit, String output) {}

  /** The CLI in a child JVM whose JCuda finds the emulator's libcuda.so.1. */
  private static Run cli(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("--add-modules");
    command.add("jdk.incubator.vector");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(LatentstreamCli.class.getName());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("LD_LIBRARY_PATH", emulator.toString());
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Run(process.waitFor(), output);
  }

  private static float[] goldenLogits(String name, int n) throws IOException {
    try (SafetensorsFile g = SafetensorsFile.open(BROWN.resolve("golden.safetensors"))) {
      TensorInfo t = g.tensors().get(name);
      float[] values = new float[n];
      t.dtype().decode(g.bytes(t), 0, values, 0, n);
      return values;
    }
  }

  private static int[] ints(JsonNode array) {
    int[] v = new int[array.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = array.get(i).asInt();
    }
    return v;
  }

  private static int[] concat(int[] a, int[] b) {
    int[] both = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }

  private static String join(int[] ids) {
    StringBuilder s = new StringBuilder();
    for (int id : ids) {
      s.append(s.length() == 0 ? "" : ",").append(id);
    }
    return s.toString();
  }
}
