package io.latentstream.gpucheck;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentstream.backend.cuda.Bf16;
import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaDevice.Grid;
import io.latentstream.backend.cuda.CudaKernel;
import io.latentstream.backend.cuda.CudaOps;
import io.latentstream.backend.cuda.DeviceWeight;
import io.latentstream.model.Gate;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.RMSNorm;
import io.latentstream.model.Rope;
import io.latentstream.sampling.Philox;
import io.latentstream.sampling.Sampler;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.sampling.TokenDistribution;
import io.latentstream.weights.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import jcuda.driver.CUdeviceptr;

/**
 * Each kernel against the CPU engine's own code (or, where the engine has no separable piece, a
 * plain double-precision loop) on random inputs with awkward sizes (not multiples of the tiles).
 * Tolerances are on the error relative to the output's largest value. bf16 GEMMs compare with a
 * reference that rounds its inputs to bf16 the same way, so what remains is fp32 summation order
 * (1e-4 relative); element-wise kernels compute as the CPU does (1e-5 or bitwise); attention and
 * MoE chains 1e-4.
 */
final class KernelChecks {
  private static final String SECTION = "kernel";
  private final CudaDevice device;
  private final CudaOps ops;
  private final SplittableRandom random = new SplittableRandom(20261128);

  KernelChecks(CudaDevice device) {
    this.device = device;
    this.ops = new CudaOps(device);
  }

  /** The checks in order; each runs alone so that one failure does not hide the others. */
  List<Supplier<List<CheckResult>>> all() {
    return List.of(
        this::linearBf16,
        this::linearFp8,
        this::linearF32,
        this::rmsnorm,
        this::rope,
        this::elementwise,
        this::embedding,
        this::mla,
        this::moe,
        this::greedy,
        this::sample,
        this::draft,
        this::philox);
  }

  // ---- linear layers -------------------------------------------------------------------------

  /** y = x W^T at several row counts, and the GEMV and GEMM paths giving identical rows. */
  private List<CheckResult> linearBf16() {
    int n = 300;
    int k = 264;
    float[] w = roundBf16(gaussian(n * k, 0.05));
    DeviceWeight dw = DeviceWeight.bf16(device.uploadBf16(w));
    List<CheckResult> out = new ArrayList<>();
    for (int m : new int[] {1, 5, 16, 37, 130}) {
      float[] x = gaussian(m * k, 1);
      float[] ref = linearRef(roundBf16(x), w, m, n, k);
      float[] y = runLinear(x, m, dw, n, k);
      out.add(
          CheckResult.compare(
              SECTION, (m <= 16 ? "gemv_bf16" : "gemm_bf16") + " M=" + m, ref, y, m * n, 1e-4));
    }
    // Batch invariance: a row's outputs must not depend on M (and so on the kernel chosen).
    float[] x = gaussian(130 * k, 1);
    float[] many = runLinear(x, 130, dw, n, k);
    float[] one = runLinear(java.util.Arrays.copyOfRange(x, 77 * k, 78 * k), 1, dw, n, k);
    int differ = 0;
    for (int j = 0; j < n; j++) {
      differ += Float.floatToIntBits(one[j]) != Float.floatToIntBits(many[77 * n + j]) ? 1 : 0;
    }
    out.add(CheckResult.exact(SECTION, "gemv == gemm row (batch invariant)", differ, n));
    device.free(dw.data());
    return out;
  }

  private float[] runLinear(float[] x, int m, DeviceWeight w, int n, int k) {
    CUdeviceptr dx = device.upload(x);
    CUdeviceptr dy = device.alloc((long) m * n * 4);
    ops.linear(dx, m, w, dy, n, k);
    float[] y = device.readFloats(dy, m * n);
    device.free(dx);
    device.free(dy);
    return y;
  }

  /** fp8 e4m3 weights with 128x128 block scales, dequantized inside the GEMM. */
  private List<CheckResult> linearFp8() {
    int n = 300;
    int k = 392;
    byte[] w8 = new byte[n * k];
    for (int i = 0; i < w8.length; i++) {
      int b;
      do {
        b = random.nextInt(256);
      } while ((b & 0x7f) == 0x7f); // the two NaN codes
      w8[i] = (byte) b;
    }
    int nb = (n + 127) / 128;
    int kb = (k + 127) / 128;
    float[] scale = new float[nb * kb];
    for (int i = 0; i < scale.length; i++) {
      scale[i] = (float) (1e-3 * (0.5 + random.nextDouble()));
    }
    // The CPU's dequantization: DType's e4m3 table times the block's scale, in fp32.
    float[] w = new float[n * k];
    DType.F8_E4M3.decode(ByteBuffer.wrap(w8).order(ByteOrder.LITTLE_ENDIAN), 0, w, 0, w.length);
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < k; c++) {
        w[r * k + c] *= scale[(r / 128) * kb + c / 128];
      }
    }
    DeviceWeight dw = DeviceWeight.fp8(device.upload(w8), device.upload(scale));
    List<CheckResult> out = new ArrayList<>();
    for (int m : new int[] {1, 16, 70}) {
      float[] x = gaussian(m * k, 1);
      float[] ref = linearRef(roundBf16(x), w, m, n, k);
      float[] y = runLinear(x, m, dw, n, k);
      out.add(
          CheckResult.compare(
              SECTION, (m <= 16 ? "gemv_fp8" : "gemm_fp8") + " M=" + m, ref, y, m * n, 1e-4));
    }
    free(dw.data(), dw.scales());
    return out;
  }

  /** The router's fp32 GEMV. */
  private List<CheckResult> linearF32() {
    int m = 9;
    int n = 37;
    int k = 300;
    float[] w = gaussian(n * k, 0.05);
    float[] x = gaussian(m * k, 1);
    float[] ref = linearRef(x, w, m, n, k);
    CUdeviceptr dx = device.upload(x);
    CUdeviceptr dw = device.upload(w);
    CUdeviceptr dy = device.alloc((long) m * n * 4);
    device.launch(
        CudaKernel.GEMV_F32, Grid.of(Grid.blocks(n, 4), m, 128), dx, k, m, dw, dy, n, n, k);
    float[] y = device.readFloats(dy, m * n);
    free(dx, dw, dy);
    return List.of(CheckResult.compare(SECTION, "gemv_f32 M=" + m, ref, y, m * n, 1e-5));
  }

  /** x W^T in double over the given (already rounded) values. */
  static float[] linearRef(float[] x, float[] w, int m, int n, int k) {
    float[] y = new float[m * n];
    for (int r = 0; r < m; r++) {
      for (int c = 0; c < n; c++) {
        double s = 0;
        for (int i = 0; i < k; i++) {
          s += (double) x[r * k + i] * w[c * k + i];
        }
        y[r * n + c] = (float) s;
      }
    }
    return y;
  }

  // ---- norms, rotary, element-wise ------------------------------------------------------------

  private List<CheckResult> rmsnorm() {
    int rows = 7;
    int dim = 333;
    int ld = 400;
    float[] x = gaussian(rows * ld, 2);
    float[] weight = gaussian(dim, 1);
    RMSNorm norm = new RMSNorm(weight, 1e-6f);
    float[] ref = new float[rows * dim];
    norm.apply(x, 0, ld, ref, 0, dim, rows);
    CUdeviceptr dx = device.upload(x);
    CUdeviceptr dw = device.upload(weight);
    CUdeviceptr dy = device.alloc((long) rows * dim * 4);
    device.launch(CudaKernel.RMSNORM, Grid.of(rows, 256), dx, ld, dw, dy, dim, dim, 1e-6f);
    float[] y = device.readFloats(dy, rows * dim);
    free(dx, dw, dy);
    return List.of(CheckResult.compare(SECTION, "rmsnorm", ref, y, rows * dim, 1e-5));
  }

  /** Interleaved RoPE with YaRN, on every head's rope part, at scattered positions. */
  private List<CheckResult> rope() {
    ModelConfig c = yarnConfig();
    Rope rope = new Rope(c);
    int half = c.qkRopeHeadDim() / 2;
    int heads = c.numAttentionHeads();
    int headDim = c.qkHeadDim();
    int rows = 6;
    int[] positions = {0, 1, 17, 1000, 4095, 4096 * 8 - 1};
    int maxPos = 4096 * 8;
    float[] cos = new float[maxPos * half];
    float[] sin = new float[maxPos * half];
    for (int p = 0; p < maxPos; p++) {
      rope.angles(p, cos, sin, p * half);
    }
    float[] x = gaussian(rows * heads * headDim, 1);
    float[] ref = x.clone();
    for (int r = 0; r < rows; r++) {
      for (int h = 0; h < heads; h++) {
        rope.rotate(
            ref, (r * heads + h) * headDim + c.qkNopeHeadDim(), cos, sin, positions[r] * half);
      }
    }
    CUdeviceptr dx = device.upload(x);
    CUdeviceptr dp = device.upload(positions);
    CUdeviceptr dc = device.upload(cos);
    CUdeviceptr ds = device.upload(sin);
    device.launch(
        CudaKernel.ROPE_INTERLEAVED,
        Grid.of(rows, 128),
        dx,
        heads * headDim,
        heads,
        headDim,
        c.qkNopeHeadDim(),
        half,
        dp,
        dc,
        ds);
    float[] y = device.readFloats(dx, x.length);
    free(dx, dp, dc, ds);
    return List.of(CheckResult.compare(SECTION, "rope_interleaved (YaRN)", ref, y, x.length, 1e-5));
  }

  /** DeepSeek-V3's own attention and rope settings (YaRN factor 40) on a small head count. */
  static ModelConfig yarnConfig() {
    return config(
        """
        {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
         "max_position_embeddings": 163840,
         "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32, "beta_slow": 1,
           "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096}}
        """);
  }

  private List<CheckResult> elementwise() {
    int n = 10007;
    float[] g = gaussian(n, 3);
    float[] u = gaussian(n, 1);
    float[] ref = new float[n];
    for (int i = 0; i < n; i++) {
      ref[i] = (float) (g[i] / (1 + Math.exp(-g[i]))) * u[i]; // silu times u, the textbook formula
    }
    CUdeviceptr dg = device.upload(g);
    CUdeviceptr du = device.upload(u);
    device.launch(CudaKernel.SILU_MUL, Grid.of(64, 256), dg, du, n);
    float[] y = device.readFloats(dg, n);
    float[] sum = new float[n];
    for (int i = 0; i < n; i++) {
      sum[i] = y[i] + u[i];
    }
    device.launch(CudaKernel.RESIDUAL_ADD, Grid.of(64, 256), dg, du, n);
    float[] added = device.readFloats(dg, n);
    free(dg, du);
    int differ = 0;
    for (int i = 0; i < n; i++) {
      differ += Float.floatToIntBits(added[i]) != Float.floatToIntBits(sum[i]) ? 1 : 0;
    }
    return List.of(
        CheckResult.compare(SECTION, "silu_mul", ref, y, n, 1e-6),
        CheckResult.exact(SECTION, "residual_add", differ, n));
  }

  private List<CheckResult> embedding() {
    int vocab = 1000;
    int dim = 200;
    float[] table = roundBf16(gaussian(vocab * dim, 1));
    int[] tokens = {0, 999, 5, 5, 512};
    int ld = 256;
    CUdeviceptr dt = device.uploadBf16(table);
    CUdeviceptr dtok = device.upload(tokens);
    CUdeviceptr dout = device.alloc((long) tokens.length * ld * 4);
    device.launch(CudaKernel.EMBED_GATHER, Grid.of(8, 256), dtok, tokens.length, dt, dim, dout, ld);
    float[] out = device.readFloats(dout, tokens.length * ld);
    free(dt, dtok, dout);
    int differ = 0;
    for (int t = 0; t < tokens.length; t++) {
      for (int d = 0; d < dim; d++) {
        differ += out[t * ld + d] != table[tokens[t] * dim + d] ? 1 : 0;
      }
    }
    return List.of(CheckResult.exact(SECTION, "embed_gather", differ, tokens.length * dim));
  }

  // ---- MLA ------------------------------------------------------------------------------------

  /**
   * Absorbed attention over a paged pool whose pages are handed out shuffled: sequences of 1, 100
   * and 700 tokens (several 64-token pages, several 256-token chunks), 3 heads, V3's 512 + 64
   * latent; the cache rows are written by mla_cache_append, one layer of two. Query rows as a mixed
   * step has them: each sequence's decode row over its whole context, then two prefill chunks with
   * causal lengths (all 100 rows of the second sequence, 37 rows of the third across a chunk
   * boundary), in tiles; the same rows cut into tiles of one must give the same bits.
   */
  private List<CheckResult> mla() {
    int kvLora = 512;
    int rope = 64;
    int latent = kvLora + rope;
    int heads = 3;
    int layers = 2;
    int layer = 1;
    int[] lens = {1, 100, 700};
    int maxPages = (700 + 63) / 64;
    int pages = 0;
    for (int len : lens) {
      pages += (len + 63) / 64;
    }
    int[] order = shuffled(pages);
    int[] table = new int[lens.length * maxPages];
    int used = 0;
    for (int s = 0; s < lens.length; s++) {
      for (int p = 0; p < (lens[s] + 63) / 64; p++) {
        table[s * maxPages + p] = order[used++];
      }
    }
    int totalTokens = 801;
    float[][] cache = new float[lens.length][];
    float[] kv = new float[totalTokens * latent];
    int[] rowSeq = new int[totalTokens];
    int[] rowPos = new int[totalTokens];
    int row = 0;
    for (int s = 0; s < lens.length; s++) {
      cache[s] = gaussian(lens[s] * latent, 1);
      for (int p = 0; p < lens[s]; p++, row++) {
        System.arraycopy(cache[s], p * latent, kv, row * latent, latent);
        rowSeq[row] = s;
        rowPos[row] = p;
      }
    }
    CUdeviceptr pool = device.alloc((long) pages * layers * 64 * latent * 4);
    CUdeviceptr dTable = device.upload(table);
    CUdeviceptr dKv = device.upload(kv);
    CUdeviceptr dSeq = device.upload(rowSeq);
    CUdeviceptr dPos = device.upload(rowPos);
    CudaOps.PagedLatents paged =
        new CudaOps.PagedLatents(pool, dTable, maxPages, layers, kvLora, rope);
    ops.appendLatents(dKv, totalTokens, paged, layer, dSeq, dPos);
    // The query rows: (sequence, tokens seen) in runs of one sequence each.
    List<int[]> queries = new ArrayList<>();
    for (int s = 0; s < lens.length; s++) {
      queries.add(new int[] {s, lens[s]});
    }
    for (int p = 0; p < 100; p++) {
      queries.add(new int[] {1, p + 1});
    }
    for (int p = 600; p < 637; p++) {
      queries.add(new int[] {2, p + 1});
    }
    int[] runs = {1, 1, 1, 100, 37};
    int rows = queries.size();
    float[] q = gaussian(rows * heads * latent, 0.05);
    float scale = 0.07f;
    float[] ref = new float[rows * heads * kvLora];
    for (int r = 0; r < rows; r++) {
      float[] ctx = cache[queries.get(r)[0]];
      int len = queries.get(r)[1];
      for (int h = 0; h < heads; h++) {
        double[] score = new double[len];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p < len; p++) {
          double d = 0;
          for (int i = 0; i < latent; i++) {
            d += (double) q[(r * heads + h) * latent + i] * ctx[p * latent + i];
          }
          score[p] = d * scale;
          max = Math.max(max, score[p]);
        }
        double sum = 0;
        for (int p = 0; p < len; p++) {
          score[p] = Math.exp(score[p] - max);
          sum += score[p];
        }
        for (int j = 0; j < kvLora; j++) {
          double o = 0;
          for (int p = 0; p < len; p++) {
            o += score[p] * ctx[p * latent + j];
          }
          ref[(r * heads + h) * kvLora + j] = (float) (o / sum);
        }
      }
    }
    int splitLen = 256;
    int splits = (700 + splitLen - 1) / splitLen;
    int[] qSeq = queries.stream().mapToInt(x -> x[0]).toArray();
    int[] qLen = queries.stream().mapToInt(x -> x[1]).toArray();
    int[] tiled = CudaOps.tiles(runs);
    int[] single = new int[rows + 1];
    java.util.Arrays.setAll(single, i -> i); // a tile per row
    CUdeviceptr dq = device.upload(q);
    CUdeviceptr dRowSeq = device.upload(qSeq);
    CUdeviceptr dRowLen = device.upload(qLen);
    CUdeviceptr dTiled = device.upload(tiled);
    CUdeviceptr dSingle = device.upload(single);
    int parts = rows * heads * splits;
    CUdeviceptr oPart = device.alloc((long) parts * kvLora * 4);
    CUdeviceptr mPart = device.alloc((long) parts * 4);
    CUdeviceptr lPart = device.alloc((long) parts * 4);
    CUdeviceptr dOut = device.alloc((long) ref.length * 4);
    CudaOps.AttentionScratch scratch = new CudaOps.AttentionScratch(oPart, mPart, lPart);
    List<float[]> outs = new ArrayList<>();
    for (CudaOps.QueryRows queryRows :
        List.of(
            new CudaOps.QueryRows(rows, dRowSeq, dRowLen, tiled.length - 1, dTiled),
            new CudaOps.QueryRows(rows, dRowSeq, dRowLen, single.length - 1, dSingle))) {
      for (CudaKernel attend : List.of(CudaKernel.MLA_ATTEND, CudaKernel.MLA_ATTEND_GROUPED)) {
        ops.mlaAttention(
            attend, dq, heads, queryRows, paged, layer, scale, splitLen, splits, scratch, dOut);
        outs.add(device.readFloats(dOut, ref.length));
      }
    }
    // The appended rows, read back through the page table.
    float[] poolHost = device.readFloats(pool, pages * layers * 64 * latent);
    int differ = 0;
    for (int s = 0; s < lens.length; s++) {
      for (int p = 0; p < lens[s]; p++) {
        int page = table[s * maxPages + p / 64];
        int base = ((page * layers + layer) * 64 + p % 64) * latent;
        for (int i = 0; i < latent; i++) {
          differ += poolHost[base + i] != cache[s][p * latent + i] ? 1 : 0;
        }
      }
    }
    int tilingDiffers = 0;
    for (int i = 0; i < ref.length; i++) {
      tilingDiffers +=
          Float.floatToRawIntBits(outs.get(0)[i]) != Float.floatToRawIntBits(outs.get(2)[i])
              ? 1
              : 0;
    }
    free(pool, dTable, dKv, dSeq, dPos, dq, dRowSeq, dRowLen, dTiled, dSingle);
    free(oPart, mPart, lPart, dOut);
    return List.of(
        CheckResult.exact(SECTION, "mla_cache_append (paged)", differ, totalTokens * latent),
        CheckResult.compare(
            SECTION,
            "mla_attend+combine (split-K, decode and prefill tiles)",
            ref,
            outs.get(0),
            ref.length,
            1e-4),
        CheckResult.exact(
            SECTION, "mla_attend tiles of 4 rows = tiles of 1, bitwise", tilingDiffers, ref.length),
        CheckResult.compare(
            SECTION,
            "mla_attend_grouped+combine (3 of 4 heads)",
            ref,
            outs.get(1),
            ref.length,
            1e-4),
        CheckResult.compare(
            SECTION,
            "mla_attend_grouped vs mla_attend",
            outs.get(0),
            outs.get(1),
            ref.length,
            1e-6));
  }

  // ---- MoE ------------------------------------------------------------------------------------

  /**
   * The router against model/Gate (brown-mtp's settings: sigmoid, bias, 4 groups keep 2, top-4),
   * then grouping, the grouped expert GEMMs and the weighted combine against a loop over each row's
   * experts in ascending id, for bf16 and fp8 experts.
   */
  private List<CheckResult> moe() {
    ModelConfig c = moeConfig();
    int e = c.nRoutedExperts();
    int topK = c.numExpertsPerTok();
    int rows = 37;
    float[] logits = gaussian(rows * e, 2);
    float[] bias = gaussian(e, 0.3);
    Gate gate = new Gate(c, null, bias);
    int[] chosenRef = new int[rows * topK];
    float[] weightsRef = new float[rows * topK];
    gate.routeScores(logits.clone(), rows, chosenRef, weightsRef);
    CUdeviceptr dLogits = device.upload(logits);
    CUdeviceptr dBias = device.upload(bias);
    CUdeviceptr dChosen = device.alloc((long) rows * topK * 4);
    CUdeviceptr dWeights = device.alloc((long) rows * topK * 4);
    device.launch(
        CudaKernel.MOE_ROUTE,
        Grid.of(Grid.blocks(rows, 128), 128),
        dLogits,
        rows,
        e,
        dBias,
        c.scoringFunc() == ModelConfig.ScoringFunc.SIGMOID ? 1 : 0,
        c.nGroup(),
        c.topkGroup(),
        c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC ? 1 : 0,
        topK,
        c.normTopkProb() ? 1 : 0,
        (float) c.routedScalingFactor(),
        dChosen,
        dWeights);
    int[] chosen = device.readInts(dChosen, rows * topK);
    float[] weights = device.readFloats(dWeights, rows * topK);
    int differ = 0;
    for (int i = 0; i < chosen.length; i++) {
      differ += chosen[i] != chosenRef[i] ? 1 : 0;
    }
    List<CheckResult> out = new ArrayList<>();
    out.add(CheckResult.exact(SECTION, "moe_route experts vs Gate", differ, chosen.length));
    out.add(
        CheckResult.compare(
            SECTION, "moe_route weights vs Gate", weightsRef, weights, weights.length, 1e-6));
    for (boolean fp8 : new boolean[] {false, true}) {
      out.add(experts(rows, 256, 128, e, topK, chosenRef, weightsRef, fp8));
    }
    free(dLogits, dBias, dChosen, dWeights);
    return out;
  }

  /** brown-mtp's router: sigmoid, bias, 16 experts in 4 groups keeping 2, top-4, scaling 2.5. */
  static ModelConfig moeConfig() {
    return config("{}");
  }

  /** A small DeepSeek-V3-shaped configuration (brown-mtp's sizes) with some keys overridden. */
  private static ModelConfig config(String overrides) {
    try {
      ObjectMapper json = new ObjectMapper();
      ObjectNode c =
          (ObjectNode)
              json.readTree(
                  """
                  {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
                   "moe_intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "n_shared_experts": 1, "n_routed_experts": 16, "routed_scaling_factor": 2.5,
                   "kv_lora_rank": 64, "q_lora_rank": 96, "qk_rope_head_dim": 16, "v_head_dim": 32,
                   "qk_nope_head_dim": 32, "topk_method": "noaux_tc", "n_group": 4,
                   "topk_group": 2, "num_experts_per_tok": 4, "first_k_dense_replace": 1,
                   "norm_topk_prob": true, "scoring_func": "sigmoid",
                   "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 10000}
                  """);
      c.setAll((ObjectNode) json.readTree(overrides));
      return ModelConfig.parse(c.toString());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private CheckResult experts(
      int rows, int dim, int inter, int e, int topK, int[] chosen, float[] weights, boolean fp8) {
    ExpertWeights w1 = ExpertWeights.random(random, e, inter, dim, fp8);
    ExpertWeights w3 = ExpertWeights.random(random, e, inter, dim, fp8);
    ExpertWeights w2 = ExpertWeights.random(random, e, dim, inter, fp8);
    float[] x = gaussian(rows * dim, 1);
    float[] xb = roundBf16(x);
    // Reference: each row through its experts in ascending id, bf16-rounded GEMM inputs.
    float[] ref = new float[rows * dim];
    for (int t = 0; t < rows; t++) {
      int[] ids = java.util.Arrays.copyOfRange(chosen, t * topK, (t + 1) * topK);
      Integer[] byId = new Integer[topK];
      for (int i = 0; i < topK; i++) {
        byId[i] = i;
      }
      java.util.Arrays.sort(byId, (a, b) -> Integer.compare(ids[a], ids[b]));
      float[] xt = java.util.Arrays.copyOfRange(xb, t * dim, (t + 1) * dim);
      for (int i : byId) {
        int ex = ids[i];
        float[] g = linearRef(xt, w1.dense(ex), 1, inter, dim);
        float[] u = linearRef(xt, w3.dense(ex), 1, inter, dim);
        for (int j = 0; j < inter; j++) {
          g[j] = Bf16.round((float) (g[j] / (1 + Math.exp(-g[j]))) * u[j]);
        }
        float[] y = linearRef(g, w2.dense(ex), 1, dim, inter);
        for (int d = 0; d < dim; d++) {
          ref[t * dim + d] += weights[t * topK + i] * y[d];
        }
      }
    }
    int slots = rows * topK;
    CUdeviceptr dChosen = device.upload(chosen);
    CUdeviceptr dWeights = device.upload(weights);
    CUdeviceptr start = device.alloc((long) (e + 1) * 4);
    CUdeviceptr slotOf = device.alloc((long) slots * 4);
    CUdeviceptr rowOf = device.alloc((long) slots * 4);
    CUdeviceptr load = device.alloc((long) e * Long.BYTES);
    // Two calls, the counters accumulating: all rows counted, then all but the last (as if it
    // padded a graphed step).
    CUdeviceptr all = device.upload(new int[] {rows});
    CUdeviceptr allButLast = device.upload(new int[] {rows - 1});
    for (CUdeviceptr countedRows : List.of(all, allButLast)) {
      device.launch(
          CudaKernel.MOE_GROUP,
          Grid.of(1, 1),
          dChosen,
          slots,
          topK,
          e,
          start,
          slotOf,
          rowOf,
          countedRows,
          load);
    }
    free(all, allButLast);
    long[] counted = device.readLongs(load, e);
    long[] expected = new long[e];
    for (int i = 0; i < chosen.length; i++) {
      expected[chosen[i]] += i < (rows - 1) * topK ? 2 : 1;
    }
    boolean loadOk = Arrays.equals(expected, counted);
    CUdeviceptr dx = device.upload(x);
    CUdeviceptr g = device.alloc((long) slots * inter * 4);
    CUdeviceptr u = device.alloc((long) slots * inter * 4);
    CUdeviceptr y = device.alloc((long) slots * dim * 4);
    CUdeviceptr dOut = device.alloc((long) rows * dim * 4);
    List<CUdeviceptr> weightBuffers = new ArrayList<>();
    w1.launch(device, weightBuffers, dx, dim, rowOf, start, g, slots);
    w3.launch(device, weightBuffers, dx, dim, rowOf, start, u, slots);
    device.launch(CudaKernel.SILU_MUL, Grid.of(64, 256), g, u, slots * inter);
    w2.launch(device, weightBuffers, g, inter, null, start, y, slots);
    device.launch(
        CudaKernel.MOE_COMBINE,
        Grid.of(rows, 128),
        y,
        dChosen,
        dWeights,
        slotOf,
        topK,
        dim,
        dOut,
        dim);
    float[] outv = device.readFloats(dOut, rows * dim);
    free(dChosen, dWeights, start, slotOf, rowOf, dx, g, u, y, dOut, load);
    weightBuffers.forEach(device::free);
    CheckResult result =
        CheckResult.compare(
            SECTION,
            "moe group+gemm+combine " + (fp8 ? "fp8" : "bf16"),
            ref,
            outv,
            rows * dim,
            1e-4);
    return loadOk
        ? result
        : CheckResult.failed(
            SECTION,
            result.name(),
            CheckResult.Status.FAIL,
            "expert-load counters "
                + Arrays.toString(counted)
                + ", expected "
                + Arrays.toString(expected));
  }

  /** Random experts' weights [E, N, K], bf16 values or fp8 with block scales. */
  private record ExpertWeights(int e, int n, int k, float[] bf16, byte[] fp8, float[] scale) {
    static ExpertWeights random(SplittableRandom r, int e, int n, int k, boolean fp8) {
      if (!fp8) {
        float[] w = new float[e * n * k];
        for (int i = 0; i < w.length; i++) {
          w[i] = Bf16.round((float) (r.nextGaussian() * 0.05));
        }
        return new ExpertWeights(e, n, k, w, null, null);
      }
      byte[] w = new byte[e * n * k];
      for (int i = 0; i < w.length; i++) {
        int b;
        do {
          b = r.nextInt(256);
        } while ((b & 0x7f) == 0x7f || (b & 0x78) >= 0x60); // no NaN, |w| < 16 before scaling
        w[i] = (byte) b;
      }
      int blocks = ((n + 127) / 128) * ((k + 127) / 128);
      float[] s = new float[e * blocks];
      for (int i = 0; i < s.length; i++) {
        s[i] = (float) (0.01 * (0.5 + r.nextDouble()));
      }
      return new ExpertWeights(e, n, k, null, w, s);
    }

    /** Expert ex's weights [N, K] in fp32, dequantized as the CPU does. */
    float[] dense(int ex) {
      if (bf16 != null) {
        return java.util.Arrays.copyOfRange(bf16, ex * n * k, (ex + 1) * n * k);
      }
      float[] w = new float[n * k];
      DType.F8_E4M3.decode(ByteBuffer.wrap(fp8), (long) ex * n * k, w, 0, n * k);
      int kb = (k + 127) / 128;
      int blocks = ((n + 127) / 128) * kb;
      for (int r = 0; r < n; r++) {
        for (int c = 0; c < k; c++) {
          w[r * k + c] *= scale[ex * blocks + (r / 128) * kb + c / 128];
        }
      }
      return w;
    }

    /**
     * Uploads the weights (kept for freeing) and runs the engine's grouped GEMM into y [slots, N].
     */
    void launch(
        CudaDevice d,
        List<CUdeviceptr> keep,
        CUdeviceptr x,
        int ldx,
        CUdeviceptr rows,
        CUdeviceptr start,
        CUdeviceptr y,
        int slots) {
      DeviceWeight w =
          bf16 != null
              ? DeviceWeight.bf16(d.uploadBf16(bf16))
              : DeviceWeight.fp8(d.upload(fp8), d.upload(scale));
      keep.add(w.data());
      if (w.scales() != null) {
        keep.add(w.scales());
      }
      new CudaOps(d).expertLinear(x, ldx, rows, start, w, y, n, k, slots, e);
    }
  }

  // ---- token choice ---------------------------------------------------------------------------

  /**
   * greedy_rows over rows given out of order, at DeepSeek-V3's vocabulary: the argmax (ties: the
   * lowest id, as TokenDistribution) and TokenDistribution.logprob within fp32 rounding of a
   * 129K-term sum.
   */
  private List<CheckResult> greedy() {
    int rows = 5;
    int vocab = 129280;
    float[] logits = gaussian(rows * vocab, 3);
    // Ties: row 1's maximum appears twice (the lower index must win), row 2 is all equal.
    logits[vocab + 100] = 50;
    logits[vocab + 90000] = 50;
    java.util.Arrays.fill(logits, 2 * vocab, 3 * vocab, 1f);
    CUdeviceptr dl = device.upload(logits);
    int[] picked = {4, 1, 2, 0, 3};
    CUdeviceptr dPicked = device.upload(picked);
    CUdeviceptr dTokens = device.alloc(picked.length * 4L);
    CUdeviceptr dLogprobs = device.alloc(picked.length * 4L);
    new CudaOps(device).greedy(dl, vocab, dPicked, picked.length, dTokens, dLogprobs);
    int[] greedy = device.readInts(dTokens, picked.length);
    float[] logprobs = device.readFloats(dLogprobs, picked.length);
    free(dl, dPicked, dTokens, dLogprobs);
    int differ = 0;
    float[] refLogprobs = new float[picked.length];
    for (int i = 0; i < picked.length; i++) {
      float[] row =
          java.util.Arrays.copyOfRange(logits, picked[i] * vocab, (picked[i] + 1) * vocab);
      int ref = TokenDistribution.argmax(row);
      differ += greedy[i] != ref ? 1 : 0;
      refLogprobs[i] = TokenDistribution.logprob(row, ref);
    }
    return List.of(
        CheckResult.exact(SECTION, "greedy_rows tokens (ties: lowest id)", differ, picked.length),
        CheckResult.compare(
            SECTION, "greedy_rows logprobs", refLogprobs, logprobs, picked.length, 1e-5));
  }

  /**
   * sample_rows against the host's TokenDistribution and Sampler: for temperatures, top-k and top-p
   * cuts and their combinations, at many token indices (different draws), the same token, and the
   * logprob within fp32 rounding. The device sums in another order, so a draw within rounding of a
   * cumulative boundary may differ: with random logits none is expected, and none has occurred.
   */
  private List<CheckResult> sample() {
    int vocab = 8192;
    SamplingParams[] settings = {
      new SamplingParams(1.0, 1.0, 0, 11, 8, List.of()),
      new SamplingParams(0.7, 1.0, 40, 12, 8, List.of()),
      new SamplingParams(0.9, 0.9, 0, -13, 8, List.of()),
      new SamplingParams(1.3, 0.5, 20, 14, 8, List.of()),
      new SamplingParams(0.2, 0.95, 1, 15, 8, List.of()),
    };
    int perSetting = 12;
    int n = settings.length * perSetting;
    float[] logits = gaussian(n * vocab, 2.5);
    long[] spec = new long[n * CudaOps.SAMPLE_SPEC];
    for (int i = 0; i < n; i++) {
      SamplingParams p = settings[i / perSetting];
      CudaOps.sampleSpec(spec, i, i, p.seed(), 3 * i, p.topK(), p.temperature(), p.topP());
    }
    CUdeviceptr dl = device.upload(logits);
    CUdeviceptr dSpec = device.upload(spec);
    CUdeviceptr dTokens = device.alloc(n * 4L);
    CUdeviceptr dLogprobs = device.alloc(n * 4L);
    new CudaOps(device).sample(dl, vocab, dSpec, n, dTokens, dLogprobs);
    int[] got = device.readInts(dTokens, n);
    float[] gotLogprobs = device.readFloats(dLogprobs, n);
    free(dl, dSpec, dTokens, dLogprobs);
    int differ = 0;
    float[] refLogprobs = new float[n];
    for (int i = 0; i < n; i++) {
      float[] row = java.util.Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
      int ref = Sampler.choose(row, settings[i / perSetting], 3 * i);
      differ += got[i] != ref ? 1 : 0;
      refLogprobs[i] = TokenDistribution.logprob(row, ref);
    }
    return List.of(
        CheckResult.exact(SECTION, "sample_rows tokens (T, top-k, top-p)", differ, n),
        CheckResult.compare(SECTION, "sample_rows logprobs", refLogprobs, gotLogprobs, n, 1e-5));
  }

  /**
   * draft_rows against Engine.draft's rule on the host (CpuEngine's): the same token, or none, for
   * every row and confidence, except where the host's probability lies within 1e-5 of the threshold
   * (the device sums in fp32).
   */
  private List<CheckResult> draft() {
    int rows = 6;
    int vocab = 8192;
    int draftVocab = 2048;
    float[] logits = gaussian(rows * vocab, 1.0);
    for (int r = 0; r < rows; r++) {
      logits[r * vocab + 7 * r] += 3f * r; // from flat rows to confident ones
    }
    logits[5 * vocab + 4000] = 99; // above the draft vocabulary: not a candidate
    CUdeviceptr dl = device.upload(logits);
    CUdeviceptr dout = device.alloc(rows * 4L);
    int differ = 0;
    int cases = 0;
    for (float confidence : new float[] {0f, 0.05f, 0.5f, 0.9f}) {
      new CudaOps(device).draft(dl, rows, vocab, draftVocab, confidence, dout);
      int[] got = device.readInts(dout, rows);
      for (int r = 0; r < rows; r++) {
        float[] q = java.util.Arrays.copyOfRange(logits, r * vocab, r * vocab + draftVocab);
        int top = TokenDistribution.argmax(q);
        double sum = 0;
        for (float v : q) {
          sum += Math.exp(v - q[top]);
        }
        double p = 1 / sum;
        if (Math.abs(p - confidence) < 1e-5) {
          continue;
        }
        int ref = confidence <= 0 || p >= confidence ? top : -1;
        differ += got[r] != ref ? 1 : 0;
        cases++;
      }
    }
    free(dl, dout);
    return List.of(CheckResult.exact(SECTION, "draft_rows (MTP draft rule)", differ, cases));
  }

  /** The device's uniform is bitwise Philox.uniform for any seed (negative too) and index. */
  private List<CheckResult> philox() {
    int n = 4096;
    long[] seeds = new long[n];
    int[] indices = new int[n];
    for (int i = 0; i < n; i++) {
      seeds[i] = i < 8 ? i - 4 : random.nextLong();
      indices[i] = i < 16 ? i : random.nextInt(1 << 20);
    }
    CUdeviceptr ds = device.upload(seeds);
    CUdeviceptr di = device.upload(indices);
    CUdeviceptr du = device.alloc(n * 4L);
    device.launch(CudaKernel.PHILOX_UNIFORM_ROWS, Grid.of(Grid.blocks(n, 128), 128), ds, di, n, du);
    float[] u = device.readFloats(du, n);
    free(ds, di, du);
    int differ = 0;
    for (int i = 0; i < n; i++) {
      differ += (double) u[i] != Philox.uniform(seeds[i], indices[i]) ? 1 : 0;
    }
    return List.of(CheckResult.exact(SECTION, "philox uniform vs Philox", differ, n));
  }

  // ---- helpers --------------------------------------------------------------------------------

  private float[] gaussian(int n, double sd) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (random.nextGaussian() * sd);
    }
    return v;
  }

  private int[] shuffled(int n) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  static float[] roundBf16(float[] v) {
    float[] r = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      r[i] = Bf16.round(v[i]);
    }
    return r;
  }

  private void free(CUdeviceptr... ps) {
    for (CUdeviceptr p : ps) {
      device.free(p);
    }
  }
}
