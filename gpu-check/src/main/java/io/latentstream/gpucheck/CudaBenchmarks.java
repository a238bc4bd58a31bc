package io.latentstream.gpucheck;

import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaDevice.Grid;
import io.latentstream.backend.cuda.CudaKernel;
import io.latentstream.backend.cuda.CudaOps;
import io.latentstream.engine.Engine;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.engine.cuda.CudaEngine;
import io.latentstream.weights.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;
import jcuda.driver.CUdeviceptr;

/**
 * Speed on the GPU, each figure the median of several timed repetitions, peers in the same run:
 * device copy bandwidth (the reference for every bandwidth ratio), DeepSeek-V3-sized linear layers
 * (bf16 and fp8, weights generated on the host), absorbed MLA decode attention at V3 sizes (128
 * heads, 512 + 64 latent) at 64 x 4K and 1 x 32K context, brown-mtp decode tokens/s at batch 1, 32
 * and 128 with the GPU linear layers beside the CPU engine, then with the forward pass on the
 * device ({@link DeviceDecodeBenchmark}).
 */
final class CudaBenchmarks {
  private static final String SECTION = "bench";
  private final CudaDevice device;
  private final Path models;
  private double copyGbs = Double.NaN;
  private double launchUs = Double.NaN;
  private final DeviceDecodeBenchmark deviceDecode;

  CudaBenchmarks(CudaDevice device, Path models) {
    this.device = device;
    this.models = models;
    this.deviceDecode =
        new DeviceDecodeBenchmark(device, models.resolve("brown-mtp"), () -> launchUs);
  }

  List<Supplier<List<CheckResult>>> all() {
    return List.of(
        this::copy,
        this::launchCost,
        () -> linear(false),
        () -> linear(true),
        () -> mla(64, 4096),
        () -> mla(1, 32768),
        () -> mlaPrefill(256, 4096),
        this::decode,
        this::memory,
        () -> deviceDecode.batch(1),
        () -> deviceDecode.batch(32),
        () -> deviceDecode.batch(128),
        () -> deviceDecode.split(1),
        () -> deviceDecode.split(32),
        () -> deviceDecode.split(128));
  }

  private List<CheckResult> copy() {
    long bytes = 1L << 30;
    CUdeviceptr a = device.alloc(bytes);
    CUdeviceptr b = device.alloc(bytes);
    double s = medianSeconds(() -> device.copy(a, b, bytes), 7);
    device.free(a);
    device.free(b);
    copyGbs = 2.0 * bytes / s / 1e9;
    return List.of(info("device copy 1 GiB", "%.0f GB/s read+write", copyGbs));
  }

  /**
   * What one launch costs from Java: an empty kernel (residual_add over 0 elements) launched 1,000
   * times back to back, then one synchronize. A step of N launches cannot take less than N times
   * this, however small its kernels.
   */
  private List<CheckResult> launchCost() {
    CUdeviceptr x = device.alloc(4);
    int n = 1000;
    double s =
        medianSeconds(
            () -> {
              for (int i = 0; i < n; i++) {
                device.launch(CudaKernel.RESIDUAL_ADD, Grid.of(1, 32), x, x, 0);
              }
            },
            5);
    device.free(x);
    launchUs = s / n * 1e6;
    return List.of(info("launch, empty kernel x1000", "%.2f us per launch", launchUs));
  }

  /** V3's dense FFN up-projection shape [18432, 7168] at 1, 32 and 128 rows. */
  private List<CheckResult> linear(boolean fp8) {
    int n = 18432;
    int k = 7168;
    java.util.SplittableRandom r = new java.util.SplittableRandom(1);
    CUdeviceptr w;
    CUdeviceptr scale = null;
    long weightBytes;
    if (fp8) {
      byte[] w8 = new byte[n * k];
      for (int i = 0; i < w8.length; i++) {
        w8[i] = (byte) (r.nextInt(0x70) | (r.nextBoolean() ? 0x80 : 0));
      }
      w = device.upload(w8);
      float[] s = new float[(n / 128) * (k / 128)];
      Arrays.fill(s, 1e-2f);
      scale = device.upload(s);
      weightBytes = (long) n * k;
    } else {
      float[] wf = new float[n * k];
      for (int i = 0; i < wf.length; i++) {
        wf[i] = (float) (r.nextGaussian() * 0.02);
      }
      w = device.uploadBf16(wf);
      weightBytes = 2L * n * k;
    }
    List<CheckResult> out = new ArrayList<>();
    for (int m : new int[] {1, 32, 128}) {
      CUdeviceptr x = device.alloc((long) m * k * 4);
      CUdeviceptr y = device.alloc((long) m * n * 4);
      boolean gemv = m <= 16;
      CudaKernel kernel =
          fp8
              ? (gemv ? CudaKernel.GEMV_FP8 : CudaKernel.GEMM_FP8)
              : (gemv ? CudaKernel.GEMV_BF16 : CudaKernel.GEMM_BF16);
      Grid grid = new Grid(Grid.blocks(n, 128), Grid.blocks(m, gemv ? 16 : 64), 1, 128);
      CUdeviceptr sc = scale;
      Runnable launch =
          fp8
              ? () -> device.launch(kernel, grid, x, k, 0L, m, w, 0L, sc, 0L, y, n, 0L, n, k)
              : () -> device.launch(kernel, grid, x, k, 0L, m, w, 0L, y, n, 0L, n, k);
      double s = medianSeconds(launch, 9);
      out.add(
          info(
              kernel.entry() + " 18432x7168 M=" + m,
              "%.1f us, weights %.0f GB/s (%.0f%% of copy), %.1f TFLOP/s",
              s * 1e6,
              weightBytes / s / 1e9,
              100 * weightBytes / s / 1e9 / copyGbs,
              2.0 * m * n * k / s / 1e12));
      device.free(x);
      device.free(y);
    }
    device.free(w);
    if (scale != null) {
      device.free(scale);
    }
    return out;
  }

  /** DeepSeek-V3's absorbed attention: 128 heads over a 512 + 64 latent. */
  private static final int V3_HEADS = 128;

  private static final int V3_KV_LORA = 512;
  private static final int V3_LATENT = 576;

  /**
   * Absorbed MLA decode attention, V3 sizes, every sequence at {@code len} tokens in its own pages.
   * Bandwidth counts the latent cache bytes once (what a kernel that shares rows across all heads
   * must read); mla_attend reads each row once per head, mla_attend_grouped once per 4 heads.
   */
  private List<CheckResult> mla(int batch, int len) {
    int pagesPer = len / 64;
    long pages = (long) batch * pagesPer;
    CUdeviceptr pool = device.alloc(pages * 64 * V3_LATENT * 4);
    int[] table = new int[batch * pagesPer];
    for (int i = 0; i < table.length; i++) {
      table[i] = i;
    }
    int[] seq = new int[batch];
    int[] lens = new int[batch];
    for (int b = 0; b < batch; b++) {
      seq[b] = b;
      lens[b] = len;
    }
    CUdeviceptr dTable = device.upload(table);
    CUdeviceptr dSeq = device.upload(seq);
    CUdeviceptr dLen = device.upload(lens);
    CUdeviceptr dTiles = device.upload(CudaOps.tiles(ones(batch)));
    CudaOps.QueryRows rows = new CudaOps.QueryRows(batch, dSeq, dLen, batch, dTiles);
    // Enough chunks to fill the machine: about 4 blocks per SM (132 SMs) beyond batch x heads.
    int splitLen = Math.max(256, (int) ((long) len * batch * V3_HEADS / (132L * 16) / 64 * 64));
    int splits = (len + splitLen - 1) / splitLen;
    double bytes = (double) batch * len * V3_LATENT * 4;
    List<CheckResult> out = new ArrayList<>();
    for (CudaKernel attend : List.of(CudaKernel.MLA_ATTEND, CudaKernel.MLA_ATTEND_GROUPED)) {
      double s = mlaSeconds(attend, rows, pool, dTable, pagesPer, splitLen, splits);
      out.add(
          info(
              attend.entry() + " V3 " + batch + "x" + len,
              "%.1f us, %.0f GB/s of fp32 cache (%.0f%% of copy), %d splits",
              s * 1e6,
              bytes / s / 1e9,
              100 * bytes / s / 1e9 / copyGbs,
              splits));
    }
    for (CUdeviceptr p : List.of(pool, dTable, dSeq, dLen, dTiles)) {
      device.free(p);
    }
    return out;
  }

  /**
   * Absorbed MLA prefill attention, V3 sizes: the last {@code rows} positions of one sequence of
   * {@code context} tokens (a prefill chunk, causal), as the engine runs it (256-token chunks),
   * with its rows in tiles of 4 that read each cached token once, beside tiles of one row (every
   * row reading its whole context, as decode rows do). Reported as fp32 TFLOP/s of the scores and
   * weighted sums (2 x heads x seen tokens x (latent + kv_lora) per row).
   */
  private List<CheckResult> mlaPrefill(int rows, int context) {
    int pages = context / 64;
    CUdeviceptr pool = device.alloc((long) pages * 64 * V3_LATENT * 4);
    CUdeviceptr dTable = device.upload(java.util.stream.IntStream.range(0, pages).toArray());
    int[] lens = new int[rows];
    double flops = 0;
    for (int r = 0; r < rows; r++) {
      lens[r] = context - rows + r + 1;
      flops += 2.0 * V3_HEADS * lens[r] * (V3_LATENT + V3_KV_LORA);
    }
    CUdeviceptr dSeq = device.upload(new int[rows]);
    CUdeviceptr dLen = device.upload(lens);
    int splitLen = 256;
    int splits = (context + splitLen - 1) / splitLen;
    double[] seconds = new double[2];
    int[][] tilings = {CudaOps.tiles(new int[] {rows}), CudaOps.tiles(ones(rows))};
    for (int t = 0; t < tilings.length; t++) {
      CUdeviceptr dTiles = device.upload(tilings[t]);
      CudaOps.QueryRows queryRows =
          new CudaOps.QueryRows(rows, dSeq, dLen, tilings[t].length - 1, dTiles);
      seconds[t] =
          mlaSeconds(CudaKernel.MLA_ATTEND, queryRows, pool, dTable, pages, splitLen, splits);
      device.free(dTiles);
    }
    for (CUdeviceptr p : List.of(pool, dTable, dSeq, dLen)) {
      device.free(p);
    }
    return List.of(
        info(
            "mla_attend V3 prefill " + rows + " rows at " + context,
            "tiles of 4: %.1f us, %.1f TFLOP/s fp32; tiles of 1: %.1f us, %.1f TFLOP/s; %.2fx",
            seconds[0] * 1e6,
            flops / seconds[0] / 1e12,
            seconds[1] * 1e6,
            flops / seconds[1] / 1e12,
            seconds[1] / seconds[0]));
  }

  /**
   * Median seconds of V3-sized MLA attention (the attend kernel and the combine) for the query rows
   * over a one-layer pool; queries, partials and output are allocated here and freed after.
   */
  private double mlaSeconds(
      CudaKernel attend,
      CudaOps.QueryRows rows,
      CUdeviceptr pool,
      CUdeviceptr table,
      int maxPages,
      int splitLen,
      int splits) {
    long parts = (long) rows.rows() * V3_HEADS * splits;
    CUdeviceptr q = device.alloc((long) rows.rows() * V3_HEADS * V3_LATENT * 4);
    CUdeviceptr oPart = device.alloc(parts * V3_KV_LORA * 4);
    CUdeviceptr mPart = device.alloc(parts * 4);
    CUdeviceptr lPart = device.alloc(parts * 4);
    CUdeviceptr o = device.alloc((long) rows.rows() * V3_HEADS * V3_KV_LORA * 4);
    CudaOps.PagedLatents cache =
        new CudaOps.PagedLatents(pool, table, maxPages, 1, V3_KV_LORA, V3_LATENT - V3_KV_LORA);
    CudaOps.AttentionScratch scratch = new CudaOps.AttentionScratch(oPart, mPart, lPart);
    CudaOps ops = new CudaOps(device);
    double seconds =
        medianSeconds(
            () ->
                ops.mlaAttention(
                    attend, q, V3_HEADS, rows, cache, 0, 0.1f, splitLen, splits, scratch, o),
            5);
    for (CUdeviceptr p : List.of(q, oPart, mPart, lPart, o)) {
      device.free(p);
    }
    return seconds;
  }

  private static int[] ones(int n) {
    int[] v = new int[n];
    java.util.Arrays.fill(v, 1);
    return v;
  }

  /**
   * brown-mtp decode tokens/s through the {@link Engine} interface: batch sequences prefilled with
   * 16 tokens, then timed greedy decode steps (one token per sequence each, logits of each row read
   * back, as the generation loop drives an engine), the CUDA engine beside the CPU engine.
   */
  private List<CheckResult> decode() {
    Path dir = models.resolve("brown-mtp");
    List<CheckResult> out = new ArrayList<>();
    try {
      Engine gpu = CudaEngine.load(device, dir, 2048, 1 << 16);
      Engine cpu = CpuEngine.load(dir, new VectorKernels(), Checkpoint.Progress.NONE);
      for (int batch : new int[] {1, 32, 128}) {
        double g = tokensPerSecond(gpu, batch);
        double c = tokensPerSecond(cpu, batch);
        out.add(
            info(
                "brown-mtp decode batch " + batch,
                "CudaEngine %.0f, cpu %.0f tok/s (x%.2f of cpu), host argmax, no graphs",
                g,
                c,
                g / c));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  /**
   * What {@link CudaEngine} takes on the device for each model, against the checkpoint's bytes on
   * disk and the pool asked for (2,048 rows, 65,536 latent tokens, as the benchmarks load it).
   */
  private List<CheckResult> memory() {
    List<CheckResult> out = new ArrayList<>();
    for (String m : List.of("brown-mtp", "tiny-a-fp8")) {
      Path dir = models.resolve(m);
      try (var files = java.nio.file.Files.list(dir)) {
        long checkpoint =
            files
                .filter(f -> f.getFileName().toString().matches("model.*\\.safetensors"))
                .mapToLong(f -> f.toFile().length())
                .sum();
        long before = device.allocatedBytes();
        CudaEngine e = CudaEngine.load(device, dir, 2048, 1 << 16);
        CudaEngine.Memory mem = e.memory();
        int tokens = 1 << 16;
        long perToken = (long) e.config().latentDim() * Float.BYTES;
        int layers = e.config().numHiddenLayers() + (e.hasMtp() ? 1 : 0);
        out.add(
            info(
                m + " device memory",
                "weights %.1f MB (checkpoint %.1f MB on disk), latent pool %.1f MB (%d tokens x"
                    + " %d layers x %d B asked: %.1f MB), workspace %.1f MB for 2048 rows; %.1f MB"
                    + " in all",
                mem.weights() / 1e6,
                checkpoint / 1e6,
                mem.latentPool() / 1e6,
                tokens,
                layers,
                perToken,
                (double) tokens * layers * perToken / 1e6,
                mem.workspace() / 1e6,
                (device.allocatedBytes() - before) / 1e6));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return out;
  }

  private static double tokensPerSecond(Engine engine, int batch) {
    List<Sequence> seqs = new ArrayList<>();
    List<StepRequest> prefill = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      Sequence s = engine.newSequence();
      seqs.add(s);
      int[] prompt = new int[16];
      for (int i = 0; i < prompt.length; i++) {
        prompt[i] = (b * 31 + i * 7) % engine.config().vocabSize();
      }
      prefill.add(new StepRequest(s, prompt, StepRequest.Logits.LAST));
    }
    List<StepResult> r = engine.step(prefill);
    int steps = 16;
    double[] times = new double[steps];
    for (int step = 0; step < steps; step++) {
      List<StepRequest> decode = new ArrayList<>(batch);
      for (int b = 0; b < batch; b++) {
        int next = Engine.argmax(r.get(b).logits()[0]);
        decode.add(new StepRequest(seqs.get(b), new int[] {next}, StepRequest.Logits.LAST));
      }
      long t0 = System.nanoTime();
      r = engine.step(decode);
      times[step] = (System.nanoTime() - t0) / 1e9;
    }
    seqs.forEach(Sequence::release);
    return batch / median(Arrays.copyOfRange(times, 2, steps));
  }

  /** Median wall time of run + synchronize, after one warm-up. */
  private double medianSeconds(Runnable run, int reps) {
    run.run();
    device.synchronize();
    double[] t = new double[reps];
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      run.run();
      device.synchronize();
      t[i] = (System.nanoTime() - t0) / 1e9;
    }
    return median(t);
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }

  private static CheckResult info(String name, String format, Object... args) {
    return CheckResult.info(SECTION, name, String.format(Locale.ROOT, format, args));
  }
}
