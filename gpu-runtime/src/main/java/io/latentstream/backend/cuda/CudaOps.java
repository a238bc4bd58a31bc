package io.latentstream.backend.cuda;

import io.latentstream.backend.cuda.CudaDevice.Grid;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * Typed launches of the kernels, one method per step of the forward pass, so that the CUDA engine's
 * forward (engine.cuda, above this package) reads like model/Transformer. Activations are fp32
 * [rows, ld]; sizes are in elements. Linear layers take a {@link DeviceWeight} and launch the
 * kernel of its dtype (bf16, or fp8 with block scales). Launch shapes live here and only here.
 */
public final class CudaOps {
  /** The GEMV-shaped kernels take up to this many rows (one 16-row tile per block). */
  static final int GEMV_MAX_ROWS = 16;

  private static final int ELEMENTWISE_BLOCKS = 264; // two per SM of an H100/H200

  private final CudaDevice d;

  public CudaOps(CudaDevice device) {
    this.d = device;
  }

  /**
   * y = x W^T, W [n, k] bf16 or fp8 (the kernel chosen by its dtype), for m rows; {@code products}
   * independent ones (heads) at strides, fp8 ones back to back (sw = n k) as their scales are.
   */
  public void linear(
      CUdeviceptr x,
      int ldx,
      long sx,
      int m,
      DeviceWeight w,
      long sw,
      CUdeviceptr y,
      int ldy,
      long sy,
      int n,
      int k,
      int products) {
    boolean gemv = m <= GEMV_MAX_ROWS;
    Grid grid = new Grid(Grid.blocks(n, 128), Grid.blocks(m, gemv ? 16 : 64), products, 128);
    if (w.fp8()) {
      if (products > 1 && sw != (long) n * k) {
        throw new IllegalArgumentException("fp8 products lie back to back: stride " + sw);
      }
      d.launch(
          gemv ? CudaKernel.GEMV_FP8 : CudaKernel.GEMM_FP8,
          grid,
          x,
          ldx,
          sx,
          m,
          w.data(),
          sw,
          w.scales(),
          products > 1 ? DeviceWeight.scaleBlocks(n, k) : 0L,
          y,
          ldy,
          sy,
          n,
          k);
    } else {
      d.launch(
          gemv ? CudaKernel.GEMV_BF16 : CudaKernel.GEMM_BF16,
          grid,
          x,
          ldx,
          sx,
          m,
          w.data(),
          sw,
          y,
          ldy,
          sy,
          n,
          k);
    }
  }

  /** y = x W^T for contiguous rows: x [m, k], y [m, n]. */
  public void linear(CUdeviceptr x, int m, DeviceWeight w, CUdeviceptr y, int n, int k) {
    linear(x, k, 0L, m, w, 0L, y, n, 0L, n, k, 1);
  }

  /** fp32 y = x W^T (the router). */
  public void linearF32(CUdeviceptr x, int m, CUdeviceptr w, CUdeviceptr y, int n, int k) {
    d.launch(CudaKernel.GEMV_F32, Grid.of(Grid.blocks(n, 4), m, 128), x, k, m, w, y, n, n, k);
  }

  public void rmsnorm(
      CUdeviceptr x,
      int ldx,
      CUdeviceptr weight,
      CUdeviceptr y,
      int ldy,
      int rows,
      int dim,
      float eps) {
    d.launch(CudaKernel.RMSNORM, Grid.of(rows, 256), x, ldx, weight, y, ldy, dim, eps);
  }

  public void rope(
      CUdeviceptr x,
      int ldx,
      int heads,
      int headStride,
      int offset,
      int half,
      int rows,
      CUdeviceptr positions,
      CUdeviceptr cos,
      CUdeviceptr sin) {
    d.launch(
        CudaKernel.ROPE_INTERLEAVED,
        Grid.of(rows, 128),
        x,
        ldx,
        heads,
        headStride,
        offset,
        half,
        positions,
        cos,
        sin);
  }

  public void siluMul(CUdeviceptr g, CUdeviceptr u, int n) {
    d.launch(CudaKernel.SILU_MUL, Grid.of(ELEMENTWISE_BLOCKS, 256), g, u, n);
  }

  /** x += y over n values. */
  public void add(CUdeviceptr x, CUdeviceptr y, int n) {
    d.launch(CudaKernel.RESIDUAL_ADD, Grid.of(ELEMENTWISE_BLOCKS, 256), x, y, n);
  }

  /** out[t * ldo ..] = table[tokens[t]] (bf16 [vocab, dim]) for t < rows. */
  public void embed(
      CUdeviceptr tokens, int rows, CUdeviceptr table, int dim, CUdeviceptr out, int ldo) {
    d.launch(
        CudaKernel.EMBED_GATHER,
        Grid.of(ELEMENTWISE_BLOCKS, 256),
        tokens,
        rows,
        table,
        dim,
        out,
        ldo);
  }

  /** out[r * ldo ..] = src[rows[r] * lds ..] (dim fp32 values) for r < n. */
  public void gatherRows(
      CUdeviceptr src, int lds, CUdeviceptr rows, int n, int dim, CUdeviceptr out, int ldo) {
    d.launch(
        CudaKernel.GATHER_ROWS, Grid.of(ELEMENTWISE_BLOCKS, 256), src, lds, rows, n, dim, out, ldo);
  }

  public void stridedCopy(
      CUdeviceptr src,
      int lds,
      int gs,
      CUdeviceptr dst,
      int ldd,
      int gd,
      int rows,
      int groups,
      int width) {
    d.launch(
        CudaKernel.STRIDED_COPY,
        Grid.of(ELEMENTWISE_BLOCKS, 256),
        src,
        lds,
        gs,
        dst,
        ldd,
        gd,
        rows,
        groups,
        width);
  }

  /**
   * A pool of 64-token latent pages, [pages][layers][64][kvLora + rope] fp32, and the step's page
   * table [sequences, maxPages] (sequence s's token p lives in page table[s][p / 64]).
   */
  public record PagedLatents(
      CUdeviceptr pool, CUdeviceptr table, int maxPages, int layers, int kvLora, int rope) {
    int latentDim() {
      return kvLora + rope;
    }
  }

  /** Split attention's partial results per (row, head, chunk): sums, maxima, denominators. */
  public record AttentionScratch(CUdeviceptr oPart, CUdeviceptr mPart, CUdeviceptr lPart) {}

  /** Appends each row's latents kv [rows, latentDim] at (rowSeq, rowPos) in the layer's pages. */
  public void appendLatents(
      CUdeviceptr kv,
      int rows,
      PagedLatents cache,
      int layer,
      CUdeviceptr rowSeq,
      CUdeviceptr rowPos) {
    int latent = cache.latentDim();
    d.launch(
        CudaKernel.MLA_CACHE_APPEND,
        Grid.of(rows, 128),
        kv,
        latent,
        latent,
        cache.pool(),
        cache.table(),
        cache.maxPages(),
        layer,
        cache.layers(),
        rowSeq,
        rowPos);
  }

  /** Heads per block of MLA_ATTEND_GROUPED (the kernel's kGroupHeads). */
  static final int GROUP_HEADS = 4;

  /** Rows of one sequence that MLA_ATTEND takes in one block (the kernel's kTileRows). */
  public static final int TILE_ROWS = 4;

  /**
   * A step's query rows for attention: row r belongs to sequence rowSeq[r] and sees its first
   * rowLen[r] tokens; MLA_ATTEND takes them in tiles, rows [tileStart[i], tileStart[i + 1]) of one
   * sequence each, at most {@link #TILE_ROWS} ({@link #tiles} cuts them).
   */
  public record QueryRows(
      int rows, CUdeviceptr rowSeq, CUdeviceptr rowLen, int tiles, CUdeviceptr tileStart) {}

  /**
   * Tile starts (and the end) for rows given as consecutive runs of one sequence each: each run cut
   * into tiles of {@link #TILE_ROWS} rows from its start, so a run's tiles do not depend on the
   * other runs.
   */
  public static int[] tiles(int[] runLengths) {
    int rows = 0;
    int tiles = 0;
    for (int n : runLengths) {
      rows += n;
      tiles += (n + TILE_ROWS - 1) / TILE_ROWS;
    }
    int[] start = new int[tiles + 1];
    int t = 0;
    int row0 = 0;
    for (int n : runLengths) {
      for (int i = 0; i < n; i += TILE_ROWS) {
        start[t++] = row0 + i;
      }
      row0 += n;
    }
    start[tiles] = rows;
    return start;
  }

  /**
   * Absorbed MLA attention: q [rows, heads, latentDim] over each row's first rowLen[r] tokens of
   * sequence rowSeq[r], in chunks of splitLen tokens (splits of them cover the longest row), merged
   * into o [rows, heads, kvLora]; attend is MLA_ATTEND (by tiles of rows) or MLA_ATTEND_GROUPED (a
   * row per block, 4 heads).
   */
  public void mlaAttention(
      CudaKernel attend,
      CUdeviceptr q,
      int heads,
      QueryRows rows,
      PagedLatents cache,
      int layer,
      float scale,
      int splitLen,
      int splits,
      AttentionScratch s,
      CUdeviceptr o) {
    boolean tiled = attend == CudaKernel.MLA_ATTEND;
    List<Object> args =
        new ArrayList<>(
            List.of(
                q,
                heads * cache.latentDim(),
                heads,
                cache.kvLora(),
                cache.rope(),
                cache.pool(),
                cache.table(),
                cache.maxPages(),
                layer,
                cache.layers(),
                rows.rowSeq(),
                rows.rowLen()));
    if (tiled) {
      args.add(rows.tileStart());
    }
    args.addAll(List.of(scale, splitLen, s.oPart(), s.mPart(), s.lPart()));
    Grid grid =
        tiled
            ? new Grid(splits, heads, rows.tiles(), 128)
            : new Grid(splits, Grid.blocks(heads, GROUP_HEADS), rows.rows(), 128);
    d.launch(attend, grid, args.toArray());
    d.launch(
        CudaKernel.MLA_COMBINE,
        Grid.of(heads, rows.rows(), 128),
        s.oPart(),
        s.mPart(),
        s.lPart(),
        heads,
        cache.kvLora(),
        splits,
        o,
        heads * cache.kvLora());
  }

  /**
   * Each expert's grouped rows [start[e], start[e+1]) times its weights w [experts, n, k] (bf16, or
   * fp8 with scales [experts, ceil(n/128), ceil(k/128)]): y[pos] = x[rows == null ? pos :
   * rows[pos]] W_e^T, for slots grouped rows in all.
   */
  public void expertLinear(
      CUdeviceptr x,
      int ldx,
      CUdeviceptr rows,
      CUdeviceptr start,
      DeviceWeight w,
      CUdeviceptr y,
      int n,
      int k,
      int slots,
      int experts) {
    Grid grid = new Grid(Grid.blocks(n, 128), Grid.blocks(slots, 16), experts, 128);
    long sw = (long) n * k;
    if (w.fp8()) {
      d.launch(
          CudaKernel.MOE_GEMM_FP8,
          grid,
          x,
          ldx,
          rows,
          start,
          w.data(),
          sw,
          w.scales(),
          DeviceWeight.scaleBlocks(n, k),
          y,
          n,
          n,
          k);
    } else {
      d.launch(CudaKernel.MOE_GEMM_BF16, grid, x, ldx, rows, start, w.data(), sw, y, n, n, k);
    }
  }

  /**
   * Greedy choices of n rows of logits [.., vocab]: the rows' indices in {@code rows}, their argmax
   * into {@code out} and its logprob into {@code logprob}.
   */
  public void greedy(
      CUdeviceptr logits,
      int vocab,
      CUdeviceptr rows,
      int n,
      CUdeviceptr out,
      CUdeviceptr logprob) {
    d.launch(CudaKernel.GREEDY_ROWS, Grid.of(n, 256), logits, vocab, vocab, rows, out, logprob);
  }

  /** Values per sampled row in {@link #sample}'s spec. */
  public static final int SAMPLE_SPEC = 6;

  /**
   * Sampled choices of n rows of logits [.., vocab]: spec holds {@link #SAMPLE_SPEC} values per row
   * (see {@link #sampleSpec}); the tokens go to {@code out}, their logprobs to {@code logprob}.
   */
  public void sample(
      CUdeviceptr logits,
      int vocab,
      CUdeviceptr spec,
      int n,
      CUdeviceptr out,
      CUdeviceptr logprob) {
    d.launch(CudaKernel.SAMPLE_ROWS, Grid.of(n, 256), logits, vocab, vocab, spec, out, logprob);
  }

  /** One sampled row's spec: its row of logits, and how its token is drawn (sample_rows). */
  public static void sampleSpec(
      long[] spec,
      int i,
      int row,
      long seed,
      int index,
      int topK,
      double temperature,
      double topP) {
    int at = i * SAMPLE_SPEC;
    spec[at] = row;
    spec[at + 1] = seed;
    spec[at + 2] = index;
    spec[at + 3] = topK;
    spec[at + 4] = Double.doubleToRawLongBits(temperature);
    spec[at + 5] = Double.doubleToRawLongBits(topP);
  }

  /**
   * Each row's MTP draft: its argmax over [0, draftVocab) when confident enough, else -1 (rows of
   * logits [rows, vocab]).
   */
  public void draft(
      CUdeviceptr logits,
      int rows,
      int vocab,
      int draftVocab,
      float minConfidence,
      CUdeviceptr out) {
    d.launch(
        CudaKernel.DRAFT_ROWS, Grid.of(rows, 256), logits, vocab, draftVocab, minConfidence, out);
  }
}
