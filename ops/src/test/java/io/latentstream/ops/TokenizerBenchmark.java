package io.latentstream.ops;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.management.OperatingSystemMXBean;
import io.latentstream.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Encode throughput of latentstream's tokenizer against Hugging Face's Rust tokenizers (through
 * DJL's JNI binding), side by side in one process, on one thread each: every string of a corpus is
 * encoded on the calling thread, one string per call, so the Rust side never uses its batch
 * parallelism. Rounds alternate between the two after a warm-up; the figures are medians.
 *
 * <p>Corpora, from the DeepSeek-V3 golden file: "English prose" is its 400 lines of prose, "mixed
 * multilingual" everything else (multilingual sentences, code, emoji, whitespace runs, random
 * strings over a mixed alphabet). Before timing, both tokenizers encode every string and the ids
 * are compared, so the race is between equal outputs.
 *
 * <p>Run with {@code ops/bench-tokenizer} (see BENCHMARKS.md); arguments: the DeepSeek-V3 tokenizer
 * directory, then optionally warm-up rounds, measured rounds and seconds per round.
 */
public final class TokenizerBenchmark {
  private static final int ENGLISH_PROSE_LINES = 400;

  private record Corpus(String name, List<String> texts, long utf8Bytes) {}

  /** Encodes a whole corpus, returning the number of ids (so nothing is optimized away). */
  private interface Encoder {
    long encodeAll(List<String> texts);
  }

  /** One round's throughput and how many cores the process kept busy meanwhile. */
  private record Sample(double mbps, double cpuPerWall) {}

  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args.length > 0 ? args[0] : "../shared/tokenizers/deepseek-v3");
    int warmupRounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 11;
    double secondsPerRound = args.length > 3 ? Double.parseDouble(args[3]) : 1.0;

    Tokenizer ours = Tokenizer.load(dir);
    try (HuggingFaceTokenizer rust =
        HuggingFaceTokenizer.builder()
            .optTokenizerPath(dir.resolve("tokenizer.json"))
            .optAddSpecialTokens(false)
            .optTruncation(false)
            .optPadding(false)
            .build()) {
      List<Corpus> corpora = corpora(dir.resolve("golden.json"));
      for (Corpus corpus : corpora) {
        checkEqual(corpus, ours, rust);
      }
      System.out.printf(
          "tokenizer encode throughput, %s, java %s, %d cpus, single thread each%n",
          Instant.now(),
          System.getProperty("java.version"),
          Runtime.getRuntime().availableProcessors());
      System.out.println(
          "MB/s = 10^6 UTF-8 bytes of input per second, median of "
              + rounds
              + " rounds of ~"
              + secondsPerRound
              + " s after "
              + warmupRounds
              + " warm-up rounds; cpu = process CPU time / wall time in those rounds");
      Encoder java =
          texts -> {
            long ids = 0;
            for (String text : texts) {
              ids += ours.encode(text).length;
            }
            return ids;
          };
      // The Rust library two ways: a JNI call per string, as a service would call it, and one
      // batch call per pass (serial, parallelism disabled), which amortizes the JNI crossing.
      Encoder rustPerString =
          texts -> {
            long ids = 0;
            for (String text : texts) {
              ids += rust.encode(text, false, false).getIds().length;
            }
            return ids;
          };
      Encoder rustBatch =
          texts -> {
            long ids = 0;
            for (Encoding e : rust.batchEncode(texts, false, false)) {
              ids += e.getIds().length;
            }
            return ids;
          };
      List<String> names = List.of("latentstream", "HF Rust per string", "HF Rust batch");
      List<Encoder> encoders = List.of(java, rustPerString, rustBatch);
      System.out.printf(
          "%-20s %9s %22s %22s %22s %14s%n",
          "corpus", "bytes", names.get(0), names.get(1), names.get(2), "ratio (best)");
      for (Corpus corpus : corpora) {
        Sample[][] samples = new Sample[encoders.size()][rounds];
        for (int r = -warmupRounds; r < rounds; r++) {
          for (int e = 0; e < encoders.size(); e++) {
            Sample s = measure(corpus, encoders.get(e), secondsPerRound);
            if (r >= 0) {
              samples[e][r] = s;
            }
          }
        }
        double[] mbps = new double[encoders.size()];
        StringBuilder row = new StringBuilder();
        for (int e = 0; e < encoders.size(); e++) {
          mbps[e] = median(Arrays.stream(samples[e]).mapToDouble(Sample::mbps).toArray());
          double cpu = median(Arrays.stream(samples[e]).mapToDouble(Sample::cpuPerWall).toArray());
          row.append(String.format(" %10.2f MB/s cpu %.2f", mbps[e], cpu));
        }
        double bestRust = Math.max(mbps[1], mbps[2]);
        System.out.printf(
            "%-20s %9d%s %14.2f%n", corpus.name(), corpus.utf8Bytes(), row, mbps[0] / bestRust);
      }
    }
  }

  private static List<Corpus> corpora(Path golden) throws IOException {
    JsonNode cases = new ObjectMapper().readTree(golden.toFile()).path("cases");
    List<String> english = new ArrayList<>();
    List<String> mixed = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      String text = cases.get(i).path("text").asText();
      (i >= cases.size() - ENGLISH_PROSE_LINES ? english : mixed).add(text);
    }
    return List.of(corpus("English prose", english), corpus("mixed multilingual", mixed));
  }

  private static Corpus corpus(String name, List<String> texts) {
    long bytes = 0;
    for (String text : texts) {
      bytes += text.getBytes(StandardCharsets.UTF_8).length;
    }
    return new Corpus(name, texts, bytes);
  }

  private static void checkEqual(Corpus corpus, Tokenizer ours, HuggingFaceTokenizer rust) {
    for (String text : corpus.texts()) {
      Encoding encoding = rust.encode(text, false, false);
      long[] expected = encoding.getIds();
      int[] actual = ours.encode(text);
      if (!Arrays.equals(expected, Arrays.stream(actual).asLongStream().toArray())) {
        throw new IllegalStateException("the two tokenizers disagree on " + text);
      }
    }
  }

  /** Throughput over whole passes through the corpus for about {@code seconds}. */
  private static Sample measure(Corpus corpus, Encoder encoder, double seconds) {
    OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    long budget = (long) (seconds * 1e9);
    long cpuStart = os.getProcessCpuTime();
    long start = System.nanoTime();
    long passes = 0;
    long ids = 0;
    long elapsed;
    do {
      ids += encoder.encodeAll(corpus.texts());
      passes++;
      elapsed = System.nanoTime() - start;
    } while (elapsed < budget);
    long cpu = os.getProcessCpuTime() - cpuStart;
    if (ids == 0) {
      throw new IllegalStateException("no ids"); // also keeps the results alive
    }
    return new Sample(corpus.utf8Bytes() * passes / (elapsed / 1e9) / 1e6, (double) cpu / elapsed);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
