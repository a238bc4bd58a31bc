package io.latentstream.ops;

import static io.latentstream.ops.LatentstreamCliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentstream.ops.LatentstreamCliTestSupport.Result;
import io.latentstream.weights.SafetensorsFile;
import io.latentstream.weights.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** generate and logits through picocli, on the shared brown-mtp checkpoint and its goldens. */
class EngineCommandsTest {
  private static Path shared() {
    String dir = System.getProperty("latentstream.shared");
    if (dir == null) {
      throw new IllegalStateException("system property latentstream.shared is not set");
    }
    return Path.of(dir).resolve("models");
  }

  private static final String BROWN = shared().resolve("brown-mtp").toString();

  @Test
  void generatePrintsTheGoldenGreedyContinuationAsOneJsonObject() throws Exception {
    JsonNode golden =
        new ObjectMapper().readTree(shared().resolve("brown-mtp/golden.json").toFile());
    JsonNode p = golden.get("prompts").get(0);
    StringBuilder ids = new StringBuilder();
    p.get("input_ids").forEach(n -> ids.append(ids.length() == 0 ? "" : ",").append(n.asInt()));
    Result r =
        run(
            "generate",
            "--model",
            BROWN,
            "--prompt-ids",
            ids.toString(),
            "--max-new-tokens",
            "32",
            "--greedy");
    assertEquals(0, r.exitCode(), r.err());
    assertEquals(1, r.out().strip().lines().count(), r.out());
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertEquals(p.get("greedy_32"), json.get("tokens"));
  }

  /**
   * The MTP benchmark runs one line of figures per drafting setting, vocabularies by confidences.
   */
  @Test
  void benchEngineComparesEveryDraftingSetting() throws Exception {
    Result r = quickMtpBench("--draft-vocab", "8192,512", "--min-confidence", "0,auto");
    assertEquals(0, r.exitCode(), r.err());
    List<JsonNode> lines = new ArrayList<>();
    for (String line : r.out().lines().filter(l -> l.startsWith("{")).toList()) {
      lines.add(new ObjectMapper().readTree(line));
    }
    assertEquals(4, lines.size(), r.out());
    int[] vocabs = {8192, 8192, 512, 512};

    for (int i = 0; i < 4; i++) {
      assertEquals(vocabs[i], lines.get(i).get("draft_vocab").asInt(), r.out());
      JsonNode confidence = lines.get(i).get("min_confidence");
      assertTrue(i % 2 == 0 ? confidence.asDouble() == 0 : confidence.isNull(), r.out());
      double acceptance = lines.get(i).get("mtp_acceptance").asDouble();
      assertTrue(acceptance > 0 && acceptance <= 1, r.out());
    }
  }

  /**
   * With several requests at once, each one's drafts and verdicts are those it gets alone: greedy
   * steps are batch-invariant and drafting is pinned on, so twelve copies of one prompt, three at a
   * time, accept the same share of drafts as the prompt at batch 1.
   */
  @Test
  void benchEngineAtConcurrencyDraftsAsEachRequestWouldAlone() throws Exception {
    double[] acceptance = new double[2];
    String[] concurrency = {"1", "3"};
    for (int i = 0; i < 2; i++) {
      Result r =
          quickMtpBench(
              "--mtp-prompts",
              "0,478,4717,557",
              "--concurrency",
              concurrency[i],
              "--min-confidence",
              "0");
      assertEquals(0, r.exitCode(), r.err());
      String json = r.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow();
      acceptance[i] = new ObjectMapper().readTree(json).get("mtp_acceptance").asDouble();
      if (i == 1) {
        assertTrue(r.out().contains("12 requests, 3 at once"), r.out());
      }
    }
    assertTrue(acceptance[0] > 0, "drafts are accepted at all: " + acceptance[0]);
    assertEquals(acceptance[0], acceptance[1], 0.0);
  }

  /**
   * bench-engine alone benchmarks the bundled model on "The jury said" (README.md and BENCHMARKS.md
   * run it so), and takes --model and --prompt-ids as the other engine commands do.
   */
  @Test
  void benchEngineDefaultsToTheBundledModelAndTheJurySaid() {
    BenchEngineCommand defaults = new BenchEngineCommand();
    new CommandLine(defaults).parseArgs();
    assertEquals(Path.of("models/brown-mtp"), defaults.options.model);
    assertEquals("0,478,4717,557", defaults.options.promptIds);
    assertEquals("cpu", defaults.options.backend.name);

    BenchEngineCommand given = new BenchEngineCommand();
    new CommandLine(given)
        .parseArgs("--model", BROWN, "--prompt-ids", "0,412", "--backend", "auto");
    assertEquals(Path.of(BROWN), given.options.model);
    assertEquals("0,412", given.options.promptIds);
    assertEquals("auto", given.options.backend.name);
  }

  /**
   * The decode benchmark's JSON line keeps the figures other tools read and adds issue 23's:
   * bandwidth, decode weight bytes and bound, load, resident memory.
   */
  @Test
  void benchEngineReportsBandwidthBoundLoadAndMemory() throws Exception {
    Result r =
        run(
            "bench-engine",
            "--model",
            BROWN,
            "--new-tokens",
            "4",
            "--batch",
            "2",
            "--prefill",
            "8",
            "--warmup",
            "0",
            "--reps",
            "1",
            "--bandwidth-mib",
            "64");
    assertEquals(0, r.exitCode(), r.err());
    String line = r.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow();
    JsonNode json = new ObjectMapper().readTree(line);
    for (String key :
        List.of(
            "decode_b1_tok_s",
            "decode_b2_tok_s",
            "prefill_8_ms",
            "peak_heap_mib",
            "read_gb_s",
            "copy_gb_s",
            "decode_bytes_per_token",
            "decode_b1_bound_tok_s",
            "decode_b1_of_bound",
            "load_s",
            "load_mb_s",
            "weight_bytes",
            "rss_after_load_mib",
            "peak_rss_mib",
            "peak_rss_of_weights")) {
      assertTrue(json.has(key), key + " in " + line);
    }
    assertEquals(33_432_384L, json.get("weight_bytes").asLong(), "the index's total_size");
    assertTrue(json.get("read_gb_s").asDouble() > 0, line);
    double bound =
        json.get("read_gb_s").asDouble() * 1e9 / json.get("decode_bytes_per_token").asLong();
    assertEquals(bound, json.get("decode_b1_bound_tok_s").asDouble(), bound * 0.01 + 0.1, line);
    assertTrue(r.out().contains("decode batch 1: "), "the existing lines stay: " + r.out());
    assertTrue(r.out().contains("memory bandwidth: read "), r.out());
  }

  /** bench-engine --mtp on brown-mtp, 24 new tokens, no warm-up, one repetition, plus extra. */
  private static Result quickMtpBench(String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "bench-engine",
                "--model",
                BROWN,
                "--mtp",
                "--new-tokens",
                "24",
                "--warmup",
                "0",
                "--reps",
                "1"));
    args.addAll(List.of(extra));
    return run(args.toArray(String[]::new));
  }

  /** Text in: BOS is added, EOS ends the generation, and the text of the tokens is printed. */
  @Test
  void generateFromTextStopsAtEndOfSentence() throws Exception {
    JsonNode p =
        new ObjectMapper()
            .readTree(shared().resolve("brown-mtp/golden.json").toFile())
            .get("prompts")
            .get(0);
    Result r = run("generate", "--model", BROWN, "--prompt", p.get("text").asText());
    assertEquals(0, r.exitCode(), r.err());
    JsonNode json = new ObjectMapper().readTree(r.out());
    JsonNode tokens = json.get("tokens");
    int eos = 0;
    while (p.get("greedy_32").get(eos).asInt() != 1) {
      eos++;
    }
    assertEquals(eos + 1, tokens.size(), r.out());
    for (int i = 0; i <= eos; i++) {
      assertEquals(p.get("greedy_32").get(i), tokens.get(i));
    }
    assertTrue(p.get("greedy_text").asText().startsWith(json.get("text").asText()), r.out());
  }

  @Test
  void logitsWritesOneF32TensorOfEveryPosition(@TempDir Path dir) throws Exception {
    Path out = dir.resolve("l.safetensors");
    Result r =
        run("logits", "--model", BROWN, "--prompt-ids", "0,478,4717", "--out", out.toString());
    assertEquals(0, r.exitCode(), r.err());
    try (SafetensorsFile f = SafetensorsFile.open(out)) {
      assertEquals(1, f.tensors().size());
      TensorInfo t = f.tensors().get("logits");
      assertEquals("F32", t.dtype().name());
      assertEquals(3, t.shape()[0]);
      assertEquals(8192, t.shape()[1]);
      // The golden's first three rows are the same prompt's logits (prompt 0 starts 0,478,4717).
      float[] row = new float[8192];
      t.dtype().decode(f.bytes(t), 2L * 8192 * 4, row, 0, 8192);
      try (SafetensorsFile g =
          SafetensorsFile.open(shared().resolve("brown-mtp/golden.safetensors"))) {
        TensorInfo gt = g.tensors().get("logits.0");
        float[] expected = new float[8192];
        gt.dtype().decode(g.bytes(gt), 2L * 8192 * 4, expected, 0, 8192);
        for (int i = 0; i < 8192; i++) {
          assertEquals(expected[i], row[i], 1e-3, "logit " + i);
        }
      }
    }
  }

  @Test
  void errorsExitNonZeroWithOneLine(@TempDir Path dir) {
    Result missing =
        run("generate", "--model", dir.resolve("none").toString(), "--prompt-ids", "0", "--greedy");
    Result badId = run("generate", "--model", BROWN, "--prompt-ids", "0,x", "--greedy");
    Result tooBig =
        run(
            "logits",
            "--model",
            BROWN,
            "--prompt-ids",
            "0,8192",
            "--out",
            dir.resolve("o").toString());
    for (Result r : new Result[] {missing, badId, tooBig}) {
      assertTrue(r.exitCode() != 0, r.toString());
      assertEquals(1, r.err().strip().lines().count(), r.err());
      assertTrue(r.out().isEmpty(), r.out());
    }
    assertTrue(missing.err().contains("does not exist"), missing.err());
    assertTrue(badId.err().contains("'x'"), badId.err());
    assertTrue(tooBig.err().contains("8192"), tooBig.err());
  }
}
