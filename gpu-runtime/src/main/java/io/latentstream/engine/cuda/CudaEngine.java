package io.latentstream.engine.cuda;

import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaKernel;
import io.latentstream.backend.cuda.CudaOps;
import io.latentstream.backend.cuda.DeviceWeight;
import io.latentstream.engine.CacheCapacity;
import io.latentstream.engine.Engine;
import io.latentstream.engine.HiddenStates;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.model.ExpertLoad;
import io.latentstream.model.LatentCache;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.Phase;
import io.latentstream.model.Rope;
import io.latentstream.model.Trace;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.DType;
import io.latentstream.weights.TensorName;
import io.latentstream.weights.Weight;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;

/**
 * The forward pass on the device: weights uploaded once (linear weights as the checkpoint stores
 * them, see below), activations kept on the device from the embedding gather to the logits, the MLA
 * latents in a pool of 64-token pages. The same steps as model/Transformer, Block, MLA, MLP and
 * MoE, in the same order:
 *
 * <pre>
 * embed -> per layer: rmsnorm -> q (wqA, qNorm, wqB) and kv (wkvA, kvNorm, rope) -> cache append
 *       -> rope(q_pe) -> absorb W^UK per head -> attend (split-K) + combine -> W^UV per head -> wo
 *       -> x += out -> rmsnorm -> dense MLP, or router + grouped experts + combine (+ shared)
 *       -> x += out;  then the final rmsnorm and the head's logits.
 * </pre>
 *
 * <p>Decode and verify steps (one or two tokens per sequence) and MTP drafts replay CUDA graphs
 * ({@link #useGraphs}, on by default), since a launch from Java costs about 9 us on the H200 and a
 * brown-mtp decode step launches 119 kernels: one graph per pass and bucket (rows padded to 1, 2,
 * 4, 8 or a multiple of 8, attention chunks to a power of two; {@link #bucket}), captured when the
 * bucket recurs. What crosses to the host per step is the chosen tokens and their logprobs (logits
 * only when a request asks for them); the final hidden states stay on the device for the MTP draft
 * that follows ({@link HiddenStates}). An fp8 checkpoint's linear weights stay fp8 on the device,
 * with their fp32 128x128 block scales, and run on the fp8 GEMMs, which apply the scales inside the
 * product: half the bytes of bf16, and the checkpoint's exact values. Other weights go up as bf16
 * (embeddings, head, the W^UK and W^UV absorbed from wkv_b on the host) or fp32 (norms, router);
 * the latent pages are fp32 as the CPU's cache. Rows of a step must fit {@link #maxRows}; one
 * thread drives it. Its device memory belongs to the {@link CudaDevice} and is freed when that
 * closes.
 */
public final class CudaEngine implements Engine {
  /** Tokens per latent page (the kernels' kPageTokens). */
  static final int PAGE_TOKENS = 64;

  /** Context chunk of one attention block: fixed, so a row's sums never depend on its batch. */
  static final int SPLIT_LEN = 256;

  private final CudaDevice device;
  private final CudaOps ops;
  private final ModelConfig c;
  private final int maxRows;
  private final int maxPagesPerSequence;
  private final Weights w;
  private final Buffers b;
  private final PagePool pool;
  private final PagePool mtpPool;
  private final CudaOps.AttentionScratch scratch;

  /** Token ids [0, draftVocab) are the ones MTP drafts (see {@link Engine#withDraftVocab}). */
  private final int draftVocab;

  /** How many chunks attention is split into this step: its longest context's (bucketed). */
  private int stepSplits;

  /** The current step's query rows for attention (tiles of one sequence's rows). */
  private CudaOps.QueryRows queryRows;

  private final Memory memory;

  /**
   * The MoE layers' model indices in order (the MTP block's last), their routed-row counters on the
   * device ([layers, experts] of u64, added to by moe_group), and the copy metrics read.
   */
  private final int[] moeLayers;

  private final CUdeviceptr expertCounters;
  private final ExpertLoad expertLoad;

  /**
   * Device memory the engine took at load: weights (fp8 ones with their block scales, and the RoPE
   * tables), activation buffers for {@link #maxRows} rows, and the latent page pools (main model
   * and MTP) for the tokens asked for.
   */
  public record Memory(long weights, long workspace, long latentPool) {}

  public Memory memory() {
    return memory;
  }

  /**
   * Main-model passes so far (shared with the engines withDraftVocab makes): what {@link
   * DeviceRows} check to know that b.hidden still holds their step's states.
   */
  private final long[] mainPasses;

  /** GPU time per phase of the passes (shared with the engines withDraftVocab makes). */
  private final DevicePhases phases;

  /**
   * Graphs kept at most; beyond, the least recently replayed is destroyed. Shapes come and go with
   * the batch (its size, its drafts, its contexts' 256-token chunks), and a graph's memory on the
   * device lasts as long as it is kept.
   */
  static final int MAX_GRAPHS = 256;

  /** Decode-step graphs by pass and shape (rows, tiles, chunks); null when graphs are off. */
  private Map<Long, CudaDevice.Graph> graphs;

  /**
   * A sequence's places in the page pools (main model, MTP); its latents live on the device, and
   * its pages go back to the pools with {@link #release}.
   */
  public final class CudaSequence implements Sequence {
    private final Pages main = new Pages();
    private final Pages mtp = new Pages();

    @Override
    public int length() {
      return main.length;
    }

    @Override
    public int mtpLength() {
      return hasMtp() ? mtp.length : -1;
    }

    @Override
    public void truncate(int n) {
      CudaEngine.this.truncate(this, n);
    }

    @Override
    public byte[] exportRange(int from, int to) {
      return CudaEngine.this.exportRange(this, from, to);
    }

    @Override
    public void importRange(int from, byte[] bytes) {
      CudaEngine.this.importRange(this, from, bytes);
    }

    @Override
    public void release() {
      CudaEngine.this.release(this);
    }

    /** The pool it draws pages from (engines made by withDraftVocab share it). */
    private PagePool pool() {
      return pool;
    }
  }

  /** The pages one sequence holds in one pool, and how many tokens they cache. */
  private static final class Pages {
    final List<Integer> ids = new ArrayList<>();
    int length;
  }

  /**
   * Rows [from, to) of the final hidden states that main-model pass number {@code pass} left in
   * b.hidden; they exist until the next pass overwrites them. {@link #draft} and {@link #mtp} read
   * them there, so they never cross to the host unless a caller asks for {@link #row}.
   */
  private final class DeviceRows implements HiddenStates {
    private final long pass;
    private final int from;
    private final int to;

    DeviceRows(long pass, int from, int to) {
      this.pass = pass;
      this.from = from;
      this.to = to;
    }

    @Override
    public int rows() {
      return to - from;
    }

    /** Whether b.hidden still holds these rows: no main-model pass has run since theirs. */
    boolean current() {
      return pass == mainPasses[0];
    }

    /** Whether engine e can read these rows where they are (its b.hidden, shared or not). */
    boolean onDeviceOf(CudaEngine e) {
      return e.b == b && current();
    }

    @Override
    public float[] row(int j) {
      java.util.Objects.checkIndex(j, rows());
      if (!current()) {
        throw new IllegalStateException(
            "hidden states of an earlier step: the device keeps only the last step's; read them"
                + " (row, toArray) before the next step");
      }
      device.ensureCurrent();
      int dim = c.hiddenSize();
      float[] out = new float[dim];
      device.read(b.hidden.withByteOffset((long) (from + j) * dim * Float.BYTES), out, 0, dim);
      return out;
    }

    @Override
    public HiddenStates slice(int sliceFrom, int sliceTo) {
      HiddenStates.checkSlice(sliceFrom, sliceTo, rows());
      return new DeviceRows(pass, from + sliceFrom, from + sliceTo);
    }
  }

  /**
   * A pool of latent pages for some layers, with its free list, and one page more that no sequence
   * owns: the rows that pad a graphed step write their latents there.
   */
  private final class PagePool {
    final CudaOps.PagedLatents latents;
    final Deque<Integer> free = new ArrayDeque<>();
    final int pages;
    final int scratch;

    PagePool(int pages, int layers) {
      this.pages = pages;
      this.scratch = pages;
      latents =
          new CudaOps.PagedLatents(
              device.alloc(
                  (long) (pages + 1) * layers * PAGE_TOKENS * c.latentDim() * Sizeof.FLOAT),
              b.table,
              maxPagesPerSequence,
              layers,
              c.kvLoraRank(),
              c.qkRopeHeadDim());
      for (int p = 0; p < pages; p++) {
        free.add(p);
      }
    }

    /** Gives s enough pages for tokens up to end. */
    void grow(Pages s, int end) {
      while (s.ids.size() * PAGE_TOKENS < end) {
        Integer page = free.poll();
        if (page == null) {
          // The scheduler admits requests within cacheCapacity(): only a caller that bypasses
          // it (or misjudges a sequence's length) gets here.
          throw new IllegalStateException("the latent page pool is full");
        }
        s.ids.add(page);
      }
    }

    /** Gives back the pages past those s's length needs. */
    void shrink(Pages s) {
      while (s.ids.size() * PAGE_TOKENS >= s.length + PAGE_TOKENS) {
        free.add(s.ids.remove(s.ids.size() - 1));
      }
    }

    void release(Pages s) {
      s.length = 0;
      shrink(s);
    }
  }

  private record Layer(
      CUdeviceptr attnNorm,
      DeviceWeight wq,
      DeviceWeight wqA,
      CUdeviceptr qNorm,
      DeviceWeight wqB,
      DeviceWeight wkvA,
      CUdeviceptr kvNorm,
      DeviceWeight wUKt,
      DeviceWeight wUV,
      DeviceWeight wo,
      CUdeviceptr ffnNorm,
      Mlp dense,
      Moe moe) {}

  /** SwiGLU weights; for experts, [E, out, in] each. */
  private record Mlp(DeviceWeight w1, DeviceWeight w3, DeviceWeight w2, int inter) {}

  /** A MoE layer's router and experts, and its slice of the expert-load counters. */
  private record Moe(
      CUdeviceptr gate, CUdeviceptr bias, Mlp experts, Mlp shared, CUdeviceptr load) {}

  /** The MTP module: enorm, hnorm, eh_proj [dim, 2 dim], its block, shared_head.norm. */
  private record Mtp(
      CUdeviceptr enorm,
      CUdeviceptr hnorm,
      DeviceWeight ehProj,
      Layer block,
      CUdeviceptr headNorm) {}

  private record Weights(
      CUdeviceptr embed,
      Layer[] layers,
      CUdeviceptr norm,
      DeviceWeight head,
      CUdeviceptr cos,
      CUdeviceptr sin,
      Mtp mtp) {}

  /** Activation buffers for maxRows rows, allocated once. */
  private record Buffers(
      CUdeviceptr tokens,
      CUdeviceptr positions,
      CUdeviceptr rowSeq,
      CUdeviceptr rowLen,
      CUdeviceptr tileStart,
      CUdeviceptr counted,
      CUdeviceptr table,
      CUdeviceptr x,
      CUdeviceptr xn,
      CUdeviceptr hidden,
      CUdeviceptr hiddenRow,
      CUdeviceptr concat,
      CUdeviceptr qa,
      CUdeviceptr q,
      CUdeviceptr kv,
      CUdeviceptr qAbs,
      CUdeviceptr oLat,
      CUdeviceptr oPart,
      CUdeviceptr mPart,
      CUdeviceptr lPart,
      CUdeviceptr heads,
      CUdeviceptr out,
      CUdeviceptr g,
      CUdeviceptr u,
      CUdeviceptr shared,
      CUdeviceptr scores,
      CUdeviceptr chosen,
      CUdeviceptr weights,
      CUdeviceptr start,
      CUdeviceptr slotOf,
      CUdeviceptr rowOf,
      CUdeviceptr eg,
      CUdeviceptr eu,
      CUdeviceptr ey,
      CUdeviceptr logits,
      CUdeviceptr argmax,
      CUdeviceptr picked,
      CUdeviceptr spec,
      CUdeviceptr logprob) {}

  private CudaEngine(CudaDevice device, ModelConfig c, Checkpoint ck, int maxRows, int maxTokens)
      throws IOException {
    this.device = device;
    this.ops = new CudaOps(device);
    this.c = c;
    this.maxRows = maxRows;
    this.maxPagesPerSequence = (c.maxPositionEmbeddings() + PAGE_TOKENS - 1) / PAGE_TOKENS;
    this.moeLayers = moeLayers(c);
    this.expertCounters = device.alloc((long) moeLayers.length * c.nRoutedExperts() * Sizeof.LONG);
    this.expertLoad = ExpertLoad.counting(moeLayers, c.nRoutedExperts());
    long start = device.allocatedBytes();
    this.w = upload(ck);
    long weights = device.allocatedBytes() - start;
    this.b = allocate();
    long workspace = device.allocatedBytes() - start - weights;
    int pages = (maxTokens + PAGE_TOKENS - 1) / PAGE_TOKENS;
    this.pool = new PagePool(pages, c.numHiddenLayers());
    this.mtpPool = w.mtp == null ? null : new PagePool(pages, 1);
    this.memory =
        new Memory(weights, workspace, device.allocatedBytes() - start - weights - workspace);
    this.scratch = new CudaOps.AttentionScratch(b.oPart, b.mPart, b.lPart);
    this.draftVocab = Engine.defaultDraftVocab(c.vocabSize());
    this.mainPasses = new long[1];
    this.phases = new DevicePhases(device.marks());
    this.graphs = graphCache(device);
  }

  /** The same engine (device memory, pools and graphs shared) drafting over draftVocab ids. */
  private CudaEngine(CudaEngine e, int draftVocab) {
    this.device = e.device;
    this.ops = e.ops;
    this.c = e.c;
    this.maxRows = e.maxRows;
    this.maxPagesPerSequence = e.maxPagesPerSequence;
    this.w = e.w;
    this.b = e.b;
    this.pool = e.pool;
    this.mtpPool = e.mtpPool;
    this.scratch = e.scratch;
    this.memory = e.memory;
    this.graphs = e.graphs;
    this.mainPasses = e.mainPasses;
    this.phases = e.phases;
    this.moeLayers = e.moeLayers;
    this.expertCounters = e.expertCounters;
    this.expertLoad = e.expertLoad;
    this.draftVocab = draftVocab;
  }

  /** The model's MoE layers in order, the MTP block (index num_hidden_layers) last. */
  private static int[] moeLayers(ModelConfig c) {
    int blocks = c.numHiddenLayers() + Math.min(1, c.numNextnPredictLayers());
    return java.util.stream.IntStream.range(0, blocks).filter(c::isMoeLayer).toArray();
  }

  /** Where layer l's counters are among the MoE layers'. */
  private int counted(int l) {
    return java.util.Arrays.binarySearch(moeLayers, l);
  }

  /**
   * Copies the device's expert-load counters into {@link #expertLoad} after a pass: one small copy
   * (layers x experts x 8 bytes) per step.
   */
  private void refreshExpertLoad() {
    if (moeLayers.length == 0) {
      return;
    }
    int e = c.nRoutedExperts();
    long[] totals = device.readLongs(expertCounters, moeLayers.length * e);
    for (int i = 0; i < moeLayers.length; i++) {
      expertLoad.set(i, totals, i * e);
    }
  }

  /**
   * Loads a checkpoint onto the device, with room for steps of maxRows rows and a latent pool of
   * maxTokens tokens over all sequences.
   */
  public static CudaEngine load(CudaDevice device, Path dir, int maxRows, int maxTokens)
      throws IOException {
    ModelConfig c = ModelConfig.load(dir);
    try (Checkpoint ck = Checkpoint.open(dir, Checkpoint.Progress.NONE)) {
      ck.setBlockSize(c.fp8BlockSize());
      return new CudaEngine(device, c, ck, maxRows, maxTokens);
    }
  }

  @Override
  public String backend() {
    return "cuda";
  }

  @Override
  public ModelConfig config() {
    return c;
  }

  public int maxRows() {
    return maxRows;
  }

  @Override
  public CudaSequence newSequence() {
    return new CudaSequence();
  }

  /** Returns a sequence's pages to the pools. */
  public void release(CudaSequence s) {
    pool.release(s.main);
    if (mtpPool != null) {
      mtpPool.release(s.mtp);
    }
  }

  @Override
  public boolean hasMtp() {
    return w.mtp != null;
  }

  /**
   * Keeps the first n tokens of a sequence (a rejected draft's row leaves no trace: attention reads
   * only a sequence's length, and the next step overwrites the row). MTP entry j pairs hidden state
   * j with token j+1, so only entries below n-1 stay valid. Pages past what is kept go back to the
   * pools.
   */
  public void truncate(CudaSequence s, int n) {
    if (n < 0 || n > s.main.length) {
      throw new IllegalArgumentException("cannot keep " + n + " of " + s.main.length + " tokens");
    }
    s.main.length = n;
    s.mtp.length = Math.min(s.mtp.length, Math.max(0, n - 1));
    shrink(s);
  }

  /** Gives a sequence's pages past its lengths back to the pools. */
  private void shrink(CudaSequence s) {
    pool.shrink(s.main);
    if (mtpPool != null) {
      mtpPool.shrink(s.mtp);
    }
  }

  /** Free pages of the main model's pool (for tests: admission reads {@link #cacheCapacity}). */
  int freePages() {
    return pool.free.size();
  }

  @Override
  public int draftVocab() {
    return draftVocab;
  }

  @Override
  public CudaEngine withDraftVocab(int draftVocab) {
    if (draftVocab < 1 || draftVocab > c.vocabSize()) {
      throw new IllegalArgumentException("a draft vocabulary of " + draftVocab + " ids");
    }
    return new CudaEngine(this, draftVocab);
  }

  /** Expert counts are not read back from the device yet: none are reported. */
  @Override
  public ExpertLoad expertLoad() {
    return expertLoad;
  }

  /** GPU time, from events on the device ({@link DevicePhases}: graphed passes split by shape). */
  @Override
  public long phaseNanos(Phase phase) {
    return phases.nanos(phase);
  }

  /** As the CPU engine's: per token, every layer's latents (kv_lora_rank + rope), fp32. */
  /** The main model's page pool (the MTP pool has as many pages and holds fewer tokens). */
  @Override
  public CacheCapacity cacheCapacity() {
    return new CacheCapacity(PAGE_TOKENS, pool.pages);
  }

  @Override
  public int bytesPerToken() {
    return LatentCache.bytesPerToken(c.numHiddenLayers(), c.latentDim());
  }

  @Override
  public List<StepResult> step(List<StepRequest> requests) {
    device.ensureCurrent();
    List<CudaSequence> seqs = requests.stream().map(r -> mine(r.sequence())).toList();
    if (new java.util.HashSet<>(seqs).size() < seqs.size()) {
      throw new IllegalArgumentException("a sequence appears twice in one step");
    }
    List<int[]> tokens = requests.stream().map(StepRequest::tokens).toList();
    boolean graphed = graphed(tokens);
    int rows = prepareMain(seqs, tokens, graphed);
    run(Graphed.MAIN, graphed, () -> forward(queryRows.rows(), null));
    refreshExpertLoad();
    // Tokens are chosen on the device, greedy and sampled rows each by their kernel: only the ids
    // and logprobs cross to the host.
    int[] greedyRows = new int[rows];
    long[] spec = new long[rows * CudaOps.SAMPLE_SPEC];
    int greedy = 0;
    int sampled = 0;
    int row0 = 0;
    for (StepRequest r : requests) {
      StepRequest.Choice choice = r.choice();
      int from = firstReturned(r);
      for (int j = from; choice != null && j < r.tokens().length; j++) {
        SamplingParams p = choice.params();
        if (p.isGreedy()) {
          greedyRows[greedy++] = row0 + j;
        } else {
          CudaOps.sampleSpec(
              spec,
              sampled++,
              row0 + j,
              p.seed(),
              choice.firstIndex() + j - from,
              p.topK(),
              p.temperature(),
              p.topP());
        }
      }
      row0 += r.tokens().length;
    }
    int[] chosen = new int[0];
    float[] logprobs = new float[0];
    if (greedy + sampled > 0) {
      if (greedy > 0) {
        device.copy(java.util.Arrays.copyOf(greedyRows, greedy), b.picked);
        ops.greedy(b.logits, c.vocabSize(), b.picked, greedy, b.argmax, b.logprob);
      }
      if (sampled > 0) {
        device.copy(java.util.Arrays.copyOf(spec, sampled * CudaOps.SAMPLE_SPEC), b.spec);
        ops.sample(
            b.logits,
            c.vocabSize(),
            b.spec,
            sampled,
            b.argmax.withByteOffset((long) greedy * Sizeof.INT),
            b.logprob.withByteOffset((long) greedy * Sizeof.FLOAT));
      }
      chosen = device.readInts(b.argmax, greedy + sampled);
      logprobs = device.readFloats(b.logprob, greedy + sampled);
    }
    List<StepResult> out = new ArrayList<>(requests.size());
    row0 = 0;
    int nextGreedy = 0;
    int nextSampled = greedy;
    for (StepRequest r : requests) {
      int n = r.tokens().length;
      int from = firstReturned(r);
      HiddenStates rowHidden = new DeviceRows(mainPasses[0], row0, row0 + n);
      if (r.choice() == null) {
        out.add(new StepResult(logitRows(row0 + from, n - from), rowHidden));
      } else {
        int k = n - from;
        int at = r.choice().params().isGreedy() ? nextGreedy : nextSampled;
        out.add(
            new StepResult(
                null,
                rowHidden,
                java.util.Arrays.copyOfRange(chosen, at, at + k),
                java.util.Arrays.copyOfRange(logprobs, at, at + k)));
        if (r.choice().params().isGreedy()) {
          nextGreedy += k;
        } else {
          nextSampled += k;
        }
      }
      row0 += n;
    }
    return out;
  }

  /** The request's first row that returns logits or a choice. */
  private static int firstReturned(StepRequest r) {
    int n = r.tokens().length;
    return switch (r.logits()) {
      case ALL -> 0;
      case LAST -> n - 1;
      case NONE -> n;
    };
  }

  @Override
  public List<float[][]> mtp(List<MtpRequest> requests) {
    device.ensureCurrent();
    boolean graphed = graphed(requests.stream().map(MtpRequest::nextTokens).toList());
    int rows = prepareMtp(requests, graphed);
    run(Graphed.MTP, graphed, () -> mtpForward(queryRows.rows()));
    refreshExpertLoad();
    float[][] all = logitRows(0, rows);
    List<float[][]> out = new ArrayList<>(requests.size());
    int row0 = 0;
    for (MtpRequest r : requests) {
      out.add(java.util.Arrays.copyOfRange(all, row0, row0 + r.nextTokens().length));
      row0 += r.nextTokens().length;
    }
    return out;
  }

  /**
   * The CPU engine's rule, on the device: from each request's last MTP row, the argmax over the
   * draft vocabulary if its softmax probability (over that vocabulary) reaches minConfidence. The
   * MTP pass replays its graph; only the drafted ids cross to the host.
   */
  @Override
  public int[] draft(List<MtpRequest> requests, float minConfidence) {
    device.ensureCurrent();
    List<int[]> nextTokens = requests.stream().map(MtpRequest::nextTokens).toList();
    boolean graphed = graphed(nextTokens);
    int rows = prepareMtp(requests, graphed);
    run(Graphed.MTP, graphed, () -> mtpForward(queryRows.rows()));
    // After the graph: the confidence changes from step to step (DraftGate).
    ops.draft(b.logits, rows, c.vocabSize(), draftVocab, minConfidence, b.argmax);
    refreshExpertLoad();
    return lastOfEach(device.readInts(b.argmax, rows), nextTokens); // -1: Engine.NO_DRAFT
  }

  /** Each request's value of its last row, from the values of a step's rows in request order. */
  private static int[] lastOfEach(int[] rowValues, List<int[]> tokens) {
    int[] last = new int[tokens.size()];
    int end = 0;
    for (int i = 0; i < last.length; i++) {
      end += tokens.get(i).length;
      last[i] = rowValues[end - 1];
    }
    return last;
  }

  /**
   * A sequence's latents of tokens [from, to) in the CPU cache's export format (token by token,
   * every layer's latentDim floats), read page by page: each (page, layer) run of slots is one
   * copy.
   */
  private byte[] exportRange(CudaSequence s, int from, int to) {
    device.ensureCurrent();
    checkRange(s, from, to);
    int layers = c.numHiddenLayers();
    int dim = c.latentDim();
    float[] flat = new float[(to - from) * layers * dim];
    float[] run = new float[PAGE_TOKENS * dim];
    for (int t = from; t < to; ) {
      int slot = t % PAGE_TOKENS;
      int n = Math.min(to - t, PAGE_TOKENS - slot);
      for (int l = 0; l < layers; l++) {
        device.read(latents(s.main.ids.get(t / PAGE_TOKENS), l, slot), run, 0, n * dim);
        for (int j = 0; j < n; j++) {
          System.arraycopy(run, j * dim, flat, ((t - from + j) * layers + l) * dim, dim);
        }
      }
      t += n;
    }
    java.nio.ByteBuffer bytes =
        java.nio.ByteBuffer.allocate(flat.length * Float.BYTES)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    bytes.asFloatBuffer().put(flat);
    return bytes.array();
  }

  /** Writes exported tokens at [from, from + count), growing the sequence's pages as needed. */
  private void importRange(CudaSequence s, int from, byte[] bytes) {
    device.ensureCurrent();
    int layers = c.numHiddenLayers();
    int dim = c.latentDim();
    if (from < 0 || from > s.main.length || bytes.length % bytesPerToken() != 0) {
      throw new IllegalArgumentException(
          "cannot import " + bytes.length + " bytes at " + from + " of " + s.main.length);
    }
    int to = from + bytes.length / bytesPerToken();
    if (to > c.maxPositionEmbeddings()) {
      throw new IllegalArgumentException(
          "sequence of " + to + " tokens: past max_position_embeddings");
    }
    pool.grow(s.main, to);
    float[] flat = new float[bytes.length / Float.BYTES];
    java.nio.ByteBuffer.wrap(bytes)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
        .asFloatBuffer()
        .get(flat);
    float[] run = new float[PAGE_TOKENS * dim];
    for (int t = from; t < to; ) {
      int slot = t % PAGE_TOKENS;
      int n = Math.min(to - t, PAGE_TOKENS - slot);
      for (int l = 0; l < layers; l++) {
        for (int j = 0; j < n; j++) {
          System.arraycopy(flat, ((t - from + j) * layers + l) * dim, run, j * dim, dim);
        }
        device.copy(run, 0, n * dim, latents(s.main.ids.get(t / PAGE_TOKENS), l, slot));
      }
      t += n;
    }
    s.main.length = to;
    s.mtp.length = Math.min(s.mtp.length, Math.max(0, to - 1));
    shrink(s);
  }

  /** Where slot `slot` of page `page` holds layer `layer`'s latents in the main pool. */
  private CUdeviceptr latents(int page, int layer, int slot) {
    long index = ((long) page * c.numHiddenLayers() + layer) * PAGE_TOKENS + slot;
    return pool.latents.pool().withByteOffset(index * c.latentDim() * Float.BYTES);
  }

  private static void checkRange(CudaSequence s, int from, int to) {
    if (from < 0 || from > to || to > s.length()) {
      throw new IllegalArgumentException(
          "tokens [" + from + ", " + to + ") of a sequence of " + s.length());
    }
  }

  /** This engine's own sequence; another engine's cannot be stepped here. */
  private CudaSequence mine(Sequence sequence) {
    if (sequence instanceof CudaSequence s && s.pool() == pool) {
      return s;
    }
    throw new IllegalArgumentException("a sequence of another engine: " + sequence);
  }

  /**
   * Replays decode steps from CUDA graphs (on, the default) or launches each kernel (off). The
   * logits are bitwise the same either way: a graph holds the very launches, arguments and order.
   */
  public void useGraphs(boolean on) {
    if (!on && graphs != null) {
      graphs.values().forEach(device::destroy);
    }
    graphs = on ? graphCache(device) : null;
  }

  private static Map<Long, CudaDevice.Graph> graphCache(CudaDevice device) {
    return new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Long, CudaDevice.Graph> eldest) {
        if (size() <= MAX_GRAPHS) {
          return false;
        }
        device.destroy(eldest.getValue());
        return true;
      }
    };
  }

  // ---- loading --------------------------------------------------------------------------------

  private Weights upload(Checkpoint ck) throws IOException {
    int dim = c.hiddenSize();
    float[] embed = ck.read(TensorName.EMBED.in(), c.vocabSize(), dim);
    Layer[] layers = new Layer[c.numHiddenLayers()];
    for (int l = 0; l < layers.length; l++) {
      layers[l] = layer(ck, l);
    }
    DeviceWeight head =
        c.tieWordEmbeddings()
            ? DeviceWeight.bf16(device.uploadBf16(embed))
            : linearWeight(ck, TensorName.HEAD.in(), c.vocabSize(), dim);
    // RoPE tables from the CPU's Rope, so both backends rotate by the very same numbers.
    Rope rope = new Rope(c);
    int half = c.qkRopeHeadDim() / 2;
    int positions = c.maxPositionEmbeddings();
    float[] cos = new float[positions * half];
    float[] sin = new float[positions * half];
    for (int p = 0; p < positions; p++) {
      rope.angles(p, cos, sin, p * half);
    }
    Mtp mtp = null;
    if (c.numNextnPredictLayers() > 0) {
      int l = c.numHiddenLayers();
      mtp =
          new Mtp(
              device.upload(ck.read(TensorName.MTP_ENORM.in(l), dim)),
              device.upload(ck.read(TensorName.MTP_HNORM.in(l), dim)),
              linearWeight(ck, TensorName.MTP_EH_PROJ.in(l), dim, 2 * dim),
              layer(ck, l),
              device.upload(ck.read(TensorName.MTP_HEAD_NORM.in(l), dim)));
    }
    return new Weights(
        device.uploadBf16(embed),
        layers,
        device.upload(ck.read(TensorName.NORM.in(), dim)),
        head,
        device.upload(cos),
        device.upload(sin),
        mtp);
  }

  private Layer layer(Checkpoint ck, int l) throws IOException {
    int dim = c.hiddenSize();
    int h = c.numAttentionHeads();
    int nope = c.qkNopeHeadDim();
    int v = c.vHeadDim();
    int kvl = c.kvLoraRank();
    int qOut = h * c.qkHeadDim();
    boolean qLora = c.qLoraRank() > 0;
    // kv_b_proj rows per head: nope rows of W^UK, then v rows of W^UV, each [.., kv_lora].
    float[] wkvB = ck.read(TensorName.WKV_B.in(l), h * (nope + v), kvl);
    float[] wUKt = new float[h * kvl * nope]; // per head W^UK^T [kv_lora, nope]: y = x W^T form
    float[] wUV = new float[h * v * kvl]; // per head W^UV [v, kv_lora]
    for (int head = 0; head < h; head++) {
      int base = head * (nope + v) * kvl;
      for (int d = 0; d < nope; d++) {
        for (int j = 0; j < kvl; j++) {
          wUKt[(head * kvl + j) * nope + d] = wkvB[base + d * kvl + j];
        }
      }
      System.arraycopy(wkvB, base + nope * kvl, wUV, head * v * kvl, v * kvl);
    }
    Mlp dense = null;
    Moe moe = null;
    if (c.isMoeLayer(l)) {
      int inter = c.moeIntermediateSize();
      int e = c.nRoutedExperts();
      Mlp experts =
          new Mlp(
              expertWeights(ck, x -> TensorName.EXPERT_W1.in(l, x), inter, dim),
              expertWeights(ck, x -> TensorName.EXPERT_W3.in(l, x), inter, dim),
              expertWeights(ck, x -> TensorName.EXPERT_W2.in(l, x), dim, inter),
              inter);
      int sharedInter = inter * c.nSharedExperts();
      Mlp shared =
          c.nSharedExperts() == 0
              ? null
              : mlp(
                  ck,
                  TensorName.SHARED_W1.in(l),
                  TensorName.SHARED_W3.in(l),
                  TensorName.SHARED_W2.in(l),
                  sharedInter);
      boolean bias = c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC;
      moe =
          new Moe(
              device.upload(ck.read(TensorName.GATE.in(l), e, dim)),
              bias ? device.upload(ck.read(TensorName.GATE_BIAS.in(l), e)) : null,
              experts,
              shared,
              expertCounters.withByteOffset(
                  (long) counted(l) * e * Sizeof.LONG)); // the MoE layers in order, MTP's last
    } else {
      dense =
          mlp(
              ck,
              TensorName.MLP_W1.in(l),
              TensorName.MLP_W3.in(l),
              TensorName.MLP_W2.in(l),
              c.intermediateSize());
    }
    return new Layer(
        device.upload(ck.read(TensorName.ATTN_NORM.in(l), dim)),
        qLora ? null : linearWeight(ck, TensorName.WQ.in(l), qOut, dim),
        qLora ? linearWeight(ck, TensorName.WQ_A.in(l), c.qLoraRank(), dim) : null,
        qLora ? device.upload(ck.read(TensorName.Q_NORM.in(l), c.qLoraRank())) : null,
        qLora ? linearWeight(ck, TensorName.WQ_B.in(l), qOut, c.qLoraRank()) : null,
        linearWeight(ck, TensorName.WKV_A.in(l), c.latentDim(), dim),
        device.upload(ck.read(TensorName.KV_NORM.in(l), kvl)),
        DeviceWeight.bf16(device.uploadBf16(wUKt)),
        DeviceWeight.bf16(device.uploadBf16(wUV)),
        linearWeight(ck, TensorName.WO.in(l), dim, h * v),
        device.upload(ck.read(TensorName.FFN_NORM.in(l), dim)),
        dense,
        moe);
  }

  private Mlp mlp(Checkpoint ck, String w1, String w3, String w2, int inter) throws IOException {
    int dim = c.hiddenSize();
    return new Mlp(
        linearWeight(ck, w1, inter, dim),
        linearWeight(ck, w3, inter, dim),
        linearWeight(ck, w2, dim, inter),
        inter);
  }

  /**
   * Whether a weight goes up as the checkpoint stores it, fp8: the fp8 kernels' scale blocks are
   * 128x128 (DeepSeek-V3's); fp8 with other blocks is widened to bf16 like every other dtype.
   */
  private boolean staysFp8(Checkpoint ck, String name) throws IOException {
    return ck.dtype(name) == DType.F8_E4M3 && c.fp8BlockSize() == DeviceWeight.FP8_BLOCK;
  }

  /** A linear layer's weight [n, k]: fp8 with its block scales when stored so, else bf16. */
  private DeviceWeight linearWeight(Checkpoint ck, String name, int n, int k) throws IOException {
    if (staysFp8(ck, name)) {
      Weight.Fp8 w = ck.readFp8(name, n, k);
      return DeviceWeight.fp8(device.upload(w.values()), device.upload(w.scales()));
    }
    return DeviceWeight.bf16(device.uploadBf16(ck.read(name, n, k)));
  }

  /**
   * The routed experts' weights [n, k] stacked [E, n, k] for the grouped GEMM: fp8 (scales stacked
   * alike) when every expert's is stored fp8, else bf16.
   */
  private DeviceWeight expertWeights(Checkpoint ck, IntFunction<String> name, int n, int k)
      throws IOException {
    int e = c.nRoutedExperts();
    boolean fp8 = true;
    for (int x = 0; x < e; x++) {
      fp8 &= staysFp8(ck, name.apply(x));
    }
    if (fp8) {
      int blocks = Math.toIntExact(DeviceWeight.scaleBlocks(n, k));
      byte[] values = new byte[e * n * k];
      float[] scales = new float[e * blocks];
      for (int x = 0; x < e; x++) {
        Weight.Fp8 w = ck.readFp8(name.apply(x), n, k);
        System.arraycopy(w.values(), 0, values, x * n * k, n * k);
        System.arraycopy(w.scales(), 0, scales, x * blocks, blocks);
      }
      return DeviceWeight.fp8(device.upload(values), device.upload(scales));
    }
    float[] w = new float[e * n * k];
    for (int x = 0; x < e; x++) {
      System.arraycopy(ck.read(name.apply(x), n, k), 0, w, x * n * k, n * k);
    }
    return DeviceWeight.bf16(device.uploadBf16(w));
  }

  private Buffers allocate() {
    int r = maxRows;
    int h = c.numAttentionHeads();
    int kvl = c.kvLoraRank();
    int maxSplits = maxSplits();
    int interMax =
        Math.max(c.intermediateSize(), c.moeIntermediateSize() * Math.max(1, c.nSharedExperts()));
    int slots = r * Math.max(1, c.numExpertsPerTok());
    int e = Math.max(1, c.nRoutedExperts());
    return new Buffers(
        ints(r),
        ints(r),
        ints(r),
        ints(r),
        ints(r + 1L),
        ints(1),
        ints((r + 1L) * maxPagesPerSequence),
        floats((long) r * c.hiddenSize()),
        floats((long) r * c.hiddenSize()),
        floats((long) r * c.hiddenSize()),
        ints(r),
        floats((long) r * 2 * c.hiddenSize()),
        floats((long) r * Math.max(1, c.qLoraRank())),
        floats((long) r * h * c.qkHeadDim()),
        floats((long) r * c.latentDim()),
        floats((long) r * h * c.latentDim()),
        floats((long) r * h * kvl),
        floats((long) r * h * maxSplits * kvl),
        floats((long) r * h * maxSplits),
        floats((long) r * h * maxSplits),
        floats((long) r * h * c.vHeadDim()),
        floats((long) r * c.hiddenSize()),
        floats((long) r * interMax),
        floats((long) r * interMax),
        floats((long) r * c.hiddenSize()),
        floats((long) r * e),
        ints(slots),
        floats(slots),
        ints(e + 1L),
        ints(slots),
        ints(slots),
        floats((long) slots * c.moeIntermediateSize()),
        floats((long) slots * c.moeIntermediateSize()),
        floats((long) slots * c.hiddenSize()),
        floats((long) r * c.vocabSize()),
        ints(r),
        ints(r),
        device.alloc((long) r * CudaOps.SAMPLE_SPEC * Sizeof.LONG),
        floats(r));
  }

  private CUdeviceptr floats(long n) {
    return device.alloc(n * Sizeof.FLOAT);
  }

  private CUdeviceptr ints(long n) {
    return device.alloc(n * Sizeof.INT);
  }

  // ---- the step -------------------------------------------------------------------------------

  /**
   * One forward pass: each sequence's tokens appended at its current length; returns the logits of
   * every row, [rows][vocab], in request order (sequence 0's rows first).
   */
  public float[][] step(List<CudaSequence> seqs, List<int[]> tokens) {
    return step(seqs, tokens, null);
  }

  /**
   * As {@link #step}, telling trace (when not null) each MoE layer's chosen experts, read back from
   * the device: conformance checks compare the routing with the CPU engine's, since one expert
   * chosen differently (a near-tie that bf16 rounding tips) changes a row's output by far more than
   * rounding.
   */
  public float[][] step(List<CudaSequence> seqs, List<int[]> tokens, Trace trace) {
    device.ensureCurrent();
    int rows = prepareMain(seqs, tokens, false);
    run(Graphed.MAIN, false, () -> forward(rows, trace)); // trace reads the device mid-pass
    return logitRows(0, rows);
  }

  /** Rows [row0, row0 + n) of the step's logits, read from the device alone. */
  private float[][] logitRows(int row0, int n) {
    int vocab = c.vocabSize();
    float[] flat = new float[n * vocab];
    if (n > 0) {
      device.read(b.logits.withByteOffset((long) row0 * vocab * Float.BYTES), flat, 0, n * vocab);
    }
    float[][] out = new float[n][];
    for (int r = 0; r < n; r++) {
      out[r] = java.util.Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
    }
    return out;
  }

  /** The passes that replay graphs: the main model's and the MTP module's. */
  private enum Graphed {
    MAIN,
    MTP
  }

  /**
   * Whether a pass over these sequences' new tokens replays a graph: graphs are on and it is a
   * decode or verify step (at most 2 rows per sequence), whose shapes recur.
   */
  private boolean graphed(List<int[]> tokens) {
    return graphs != null && tokens.stream().mapToInt(t -> t.length).sum() <= 2 * tokens.size();
  }

  /**
   * Runs a prepared pass's launches, timed by phase: from the graph of its shape when graphed (the
   * pass prepared padded to its bucket), else one by one.
   */
  private void run(Graphed pass, boolean graphed, Runnable launches) {
    long shape =
        ((long) pass.ordinal() << 60)
            | ((long) queryRows.rows() << 40)
            | ((long) queryRows.tiles() << 20)
            | splits();
    if (phases.begin(shape, graphed) || !graphed) {
      launches.run(); // the shape's first pass, or one of its profiled passes: with phase marks
    } else {
      device.launch(graphs.computeIfAbsent(shape, k -> device.capture(launches)));
    }
    phases.end();
  }

  /**
   * The rows a graphed pass computes for {@code rows} real ones: 1, 2, 4, 8, then multiples of 8
   * (vLLM's capture sizes), at most maxRows. Padding to these buckets bounds the graphs a serving
   * loop captures (the batch changes as requests come and go and drafts are proposed or not) at the
   * cost of at most 7 rows that compute nothing anyone reads.
   */
  static int bucket(int rows, int maxRows) {
    int b = 1;
    while (b < rows && b < 8) {
      b <<= 1;
    }
    if (rows > 8) {
      b = (rows + 7) / 8 * 8;
    }
    return Math.min(b, maxRows);
  }

  /** Attention chunks enough for the longest context the model allows. */
  private int maxSplits() {
    return Math.max(1, (c.maxPositionEmbeddings() + SPLIT_LEN - 1) / SPLIT_LEN);
  }

  /**
   * Uploads the step's tokens, positions, row-to-sequence map and the page table of the given pool,
   * growing each sequence's pages there; returns the step's rows. Checks everything it can before
   * changing a sequence, so that a refused step leaves them as they were. A pass to be graphed
   * ({@code pad}) is padded to its {@link #bucket} of rows and a power of two of attention chunks:
   * padding rows read token 0 at position 0 of the pool's scratch page and write their latents
   * there, each a tile of its own; their outputs are never read, and the expert-load counters skip
   * them (b.counted holds the real rows).
   */
  private int prepare(List<Pages> seqs, PagePool into, List<int[]> tokens, boolean pad) {
    int rows = 0;
    int longest = 0;
    for (int s = 0; s < seqs.size(); s++) {
      rows += tokens.get(s).length;
      int end = seqs.get(s).length + tokens.get(s).length;
      if (end > c.maxPositionEmbeddings()) {
        throw new IllegalArgumentException(
            "sequence of " + end + " tokens: past max_position_embeddings");
      }
      longest = Math.max(longest, end);
    }
    if (rows > maxRows) {
      throw new IllegalArgumentException(rows + " rows in one step, at most " + maxRows);
    }
    tokens.forEach(c::checkTokenIds); // an id past the vocabulary would read past the embedding
    // table on the device
    try {
      for (int s = 0; s < seqs.size(); s++) {
        into.grow(seqs.get(s), seqs.get(s).length + tokens.get(s).length);
      }
    } catch (IllegalStateException full) {
      seqs.forEach(into::shrink);
      throw full;
    }
    int passRows = pad ? bucket(rows, maxRows) : rows;
    int[] tok = new int[passRows];
    int[] pos = new int[passRows];
    int[] seqOfRow = new int[passRows];
    int[] len = new int[passRows];
    int[] table = new int[(seqs.size() + 1) * maxPagesPerSequence];
    int[] runs = new int[seqs.size() + passRows - rows];
    int r = 0;
    for (int s = 0; s < seqs.size(); s++) {
      Pages seq = seqs.get(s);
      int[] t = tokens.get(s);
      for (int p = 0; p < seq.ids.size(); p++) {
        table[s * maxPagesPerSequence + p] = seq.ids.get(p);
      }
      for (int i = 0; i < t.length; i++, r++) {
        tok[r] = t[i];
        pos[r] = seq.length + i;
        seqOfRow[r] = s;
        len[r] = seq.length + i + 1; // causal: a row sees itself and what precedes it
      }
      seq.length += t.length;
      runs[s] = t.length;
    }
    table[seqs.size() * maxPagesPerSequence] = into.scratch;
    for (; r < passRows; r++) {
      seqOfRow[r] = seqs.size();
      len[r] = 1;
      runs[seqs.size() + r - rows] = 1;
    }
    int[] tiles = CudaOps.tiles(runs);
    if (pad) { // as many tiles as rows, the ones past the last row empty
      int real = tiles.length - 1;
      tiles = java.util.Arrays.copyOf(tiles, passRows + 1);
      java.util.Arrays.fill(tiles, real + 1, tiles.length, passRows);
    }
    int splits = Math.max(1, (longest + SPLIT_LEN - 1) / SPLIT_LEN);
    stepSplits = pad ? Math.min(maxSplits(), Integer.highestOneBit(splits * 2 - 1)) : splits;
    device.copy(tok, b.tokens);
    device.copy(pos, b.positions);
    device.copy(seqOfRow, b.rowSeq);
    device.copy(len, b.rowLen);
    device.copy(tiles, b.tileStart);
    device.copy(new int[] {rows}, b.counted);
    device.copy(table, b.table);
    queryRows = new CudaOps.QueryRows(passRows, b.rowSeq, b.rowLen, tiles.length - 1, b.tileStart);
    return rows;
  }

  /** {@link #prepare} for a main-model pass, which will overwrite the last pass's hidden states. */
  private int prepareMain(List<CudaSequence> seqs, List<int[]> tokens, boolean pad) {
    int rows = prepare(seqs.stream().map(s -> s.main).toList(), pool, tokens, pad);
    mainPasses[0]++;
    return rows;
  }

  private void forward(int rows, Trace trace) {
    int dim = c.hiddenSize();
    ops.embed(b.tokens, rows, w.embed, dim, b.x, dim);
    for (int l = 0; l < w.layers.length; l++) {
      block(w.layers[l], pool.latents, l, rows, trace);
    }
    phases.enter(Phase.HEAD);
    ops.rmsnorm(b.x, dim, w.norm, b.hidden, dim, rows, dim, (float) c.rmsNormEps());
    ops.linear(b.hidden, rows, w.head, b.logits, c.vocabSize(), dim);
  }

  /**
   * model/Block: x += MLA(attnNorm(x)); x += ffn(ffnNorm(x)), caching at cacheLayer of cache (the
   * layer's index for the main model's blocks, reported to trace).
   */
  private void block(
      Layer layer, CudaOps.PagedLatents cache, int cacheLayer, int rows, Trace trace) {
    int dim = c.hiddenSize();
    float eps = (float) c.rmsNormEps();
    phases.enter(Phase.ATTENTION);
    ops.rmsnorm(b.x, dim, layer.attnNorm, b.xn, dim, rows, dim, eps);
    attention(layer, cache, cacheLayer, rows);
    ops.add(b.x, b.out, rows * dim);
    phases.enter(Phase.FFN);
    ops.rmsnorm(b.x, dim, layer.ffnNorm, b.xn, dim, rows, dim, eps);
    if (layer.moe != null) {
      moe(layer.moe, rows);
      if (trace != null) {
        int topK = c.numExpertsPerTok();
        trace.routing(cacheLayer, device.readInts(b.chosen, rows * topK), rows, topK);
      }
    } else {
      mlp(layer.dense, b.xn, rows, b.out);
    }
    ops.add(b.x, b.out, rows * dim);
  }

  /**
   * Uploads an MTP step's tokens, positions and pages, and where each row's hidden state is in
   * b.hidden; returns its rows. States still on the device from the last step (the generation
   * loop's case) stay there; others are uploaded into b.hidden first.
   */
  private int prepareMtp(List<MtpRequest> requests, boolean pad) {
    if (w.mtp == null) {
      throw new IllegalStateException("the model has no MTP module (num_nextn_predict_layers 0)");
    }
    List<HiddenStates> hidden = requests.stream().map(MtpRequest::hidden).toList();
    boolean onDevice =
        hidden.stream().allMatch(h -> h instanceof DeviceRows d && d.onDeviceOf(this));
    int dim = c.hiddenSize();
    int rows = hidden.stream().mapToInt(HiddenStates::rows).sum();
    int[] rowOf = new int[pad ? bucket(rows, maxRows) : rows]; // padding rows read row 0
    float[] flat = onDevice ? null : new float[rows * dim];
    int r = 0;
    for (HiddenStates h : hidden) {
      for (int j = 0; j < h.rows(); j++, r++) {
        if (onDevice) {
          rowOf[r] = ((DeviceRows) h).from + j;
          continue;
        }
        float[] row = h.row(j); // before any change: a stale device row throws here
        if (row.length != dim) {
          throw new IllegalArgumentException(
              "MTP hidden state of " + row.length + " values, the model has " + dim);
        }
        System.arraycopy(row, 0, flat, r * dim, dim);
        rowOf[r] = r;
      }
    }
    prepare(
        requests.stream().map(q -> mine(q.sequence()).mtp).toList(),
        mtpPool,
        requests.stream().map(MtpRequest::nextTokens).toList(),
        pad);
    if (flat != null) {
      device.copy(flat, b.hidden);
      mainPasses[0]++; // b.hidden no longer holds the last step's states
    }
    device.copy(rowOf, b.hiddenRow);
    return rows;
  }

  /** The MTP module over the prepared rows, its logits left in b.logits. */
  private void mtpForward(int rows) {
    int dim = c.hiddenSize();
    float eps = (float) c.rmsNormEps();
    // concat = [enorm(embed(t_{i+1})), hnorm(h_i)], then eh_proj into the residual stream.
    ops.gatherRows(b.hidden, dim, b.hiddenRow, rows, dim, b.xn, dim);
    ops.embed(b.tokens, rows, w.embed, dim, b.concat, 2 * dim);
    ops.rmsnorm(b.concat, 2 * dim, w.mtp.enorm, b.concat, 2 * dim, rows, dim, eps);
    ops.rmsnorm(
        b.xn,
        dim,
        w.mtp.hnorm,
        b.concat.withByteOffset((long) dim * Sizeof.FLOAT),
        2 * dim,
        rows,
        dim,
        eps);
    ops.linear(b.concat, rows, w.mtp.ehProj, b.x, dim, 2 * dim);
    block(w.mtp.block, mtpPool.latents, 0, rows, null);
    phases.enter(Phase.HEAD);
    ops.rmsnorm(b.x, dim, w.mtp.headNorm, b.xn, dim, rows, dim, eps);
    ops.linear(b.xn, rows, w.head, b.logits, c.vocabSize(), dim);
  }

  /** model/MLA.forward on the device, output projection into b.out. */
  private void attention(Layer layer, CudaOps.PagedLatents cache, int l, int rows) {
    int dim = c.hiddenSize();
    int h = c.numAttentionHeads();
    int qk = c.qkHeadDim();
    int nope = c.qkNopeHeadDim();
    int rope = c.qkRopeHeadDim();
    int kvl = c.kvLoraRank();
    int latent = c.latentDim();
    int v = c.vHeadDim();
    float eps = (float) c.rmsNormEps();
    if (layer.wqA != null) {
      ops.linear(b.xn, rows, layer.wqA, b.qa, c.qLoraRank(), dim);
      ops.rmsnorm(b.qa, c.qLoraRank(), layer.qNorm, b.qa, c.qLoraRank(), rows, c.qLoraRank(), eps);
      ops.linear(b.qa, rows, layer.wqB, b.q, h * qk, c.qLoraRank());
    } else {
      ops.linear(b.xn, rows, layer.wq, b.q, h * qk, dim);
    }
    ops.linear(b.xn, rows, layer.wkvA, b.kv, latent, dim);
    ops.rmsnorm(b.kv, latent, layer.kvNorm, b.kv, latent, rows, kvl, eps);
    ops.rope(b.kv, latent, 1, 0, kvl, rope / 2, rows, b.positions, w.cos, w.sin);
    ops.appendLatents(b.kv, rows, cache, l, b.rowSeq, b.positions);
    ops.rope(b.q, h * qk, h, qk, nope, rope / 2, rows, b.positions, w.cos, w.sin);
    // Absorbed query per head: [q_nope W^UK, q_pe].
    ops.linear(
        b.q,
        h * qk,
        qk,
        rows,
        layer.wUKt,
        (long) kvl * nope,
        b.qAbs,
        h * latent,
        latent,
        kvl,
        nope,
        h);
    ops.stridedCopy(
        b.q.withByteOffset((long) nope * Sizeof.FLOAT),
        h * qk,
        qk,
        b.qAbs.withByteOffset((long) kvl * Sizeof.FLOAT),
        h * latent,
        latent,
        rows,
        h,
        rope);
    int splits = splits();
    ops.mlaAttention(
        CudaKernel.MLA_ATTEND,
        b.qAbs,
        h,
        queryRows,
        cache,
        l,
        (float) c.softmaxScale(),
        SPLIT_LEN,
        splits,
        scratch,
        b.oLat);
    ops.linear(b.oLat, h * kvl, kvl, rows, layer.wUV, (long) v * kvl, b.heads, h * v, v, v, kvl, h);
    ops.linear(b.heads, rows, layer.wo, b.out, dim, h * v);
  }

  /** Chunks of attention in this step: its longest context in {@link #SPLIT_LEN} chunks. */
  private int splits() {
    return stepSplits;
  }

  /** SwiGLU over rows of x into y, with b.g and b.u as scratch. */
  private void mlp(Mlp m, CUdeviceptr x, int rows, CUdeviceptr y) {
    int dim = c.hiddenSize();
    ops.linear(x, rows, m.w1, b.g, m.inter, dim);
    ops.linear(x, rows, m.w3, b.u, m.inter, dim);
    ops.siluMul(b.g, b.u, rows * m.inter);
    ops.linear(b.g, rows, m.w2, y, dim, m.inter);
  }

  /** model/MoE.forward on the device into b.out. */
  private void moe(Moe m, int rows) {
    int dim = c.hiddenSize();
    int e = c.nRoutedExperts();
    int topK = c.numExpertsPerTok();
    int inter = m.experts.inter;
    int slots = rows * topK;
    boolean grouped = c.topkMethod() != ModelConfig.TopkMethod.GREEDY && c.nGroup() > 1;
    ops.linearF32(b.xn, rows, m.gate, b.scores, e, dim);
    device.launch(
        CudaKernel.MOE_ROUTE,
        CudaDevice.Grid.of(CudaDevice.Grid.blocks(rows, 128), 128),
        b.scores,
        rows,
        e,
        m.bias,
        c.scoringFunc() == ModelConfig.ScoringFunc.SIGMOID ? 1 : 0,
        grouped ? c.nGroup() : 1,
        c.topkGroup(),
        c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC ? 1 : 0,
        topK,
        c.normTopkProb() ? 1 : 0,
        (float) c.routedScalingFactor(),
        b.chosen,
        b.weights);
    device.launch(
        CudaKernel.MOE_GROUP,
        CudaDevice.Grid.of(1, 1),
        b.chosen,
        slots,
        topK,
        e,
        b.start,
        b.slotOf,
        b.rowOf,
        b.counted,
        m.load);
    ops.expertLinear(b.xn, dim, b.rowOf, b.start, m.experts.w1, b.eg, inter, dim, slots, e);
    ops.expertLinear(b.xn, dim, b.rowOf, b.start, m.experts.w3, b.eu, inter, dim, slots, e);
    ops.siluMul(b.eg, b.eu, slots * inter);
    ops.expertLinear(b.eg, inter, null, b.start, m.experts.w2, b.ey, dim, inter, slots, e);
    device.launch(
        CudaKernel.MOE_COMBINE,
        CudaDevice.Grid.of(rows, 128),
        b.ey,
        b.chosen,
        b.weights,
        b.slotOf,
        topK,
        dim,
        b.out,
        dim);
    if (m.shared != null) {
      mlp(m.shared, b.xn, rows, b.shared);
      ops.add(b.out, b.shared, rows * dim);
    }
  }
}
