package io.latentstream.engine.cpu;

import io.latentstream.backend.Kernels;
import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.engine.Engine;
import io.latentstream.engine.HiddenStates;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.model.Batch;
import io.latentstream.model.ExpertLoad;
import io.latentstream.model.LatentCache;
import io.latentstream.model.Linear;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.Phase;
import io.latentstream.model.Trace;
import io.latentstream.model.Transformer;
import io.latentstream.model.Workspace;
import io.latentstream.weights.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CPU inference engine: a loaded model plus the batched step over independent sequences, on the
 * {@link Kernels} it was loaded with.
 *
 * <p>{@link #step} runs any mix of prefill and decode rows in one forward pass; each sequence's
 * numbers are bitwise identical whatever else shares the batch (work is split across rows, heads
 * and experts, never inside a reduction). Steps are not thread-safe: one caller drives an engine.
 */
public final class CpuEngine implements Engine {
  private static final Logger LOG = LoggerFactory.getLogger(CpuEngine.class);

  private final Transformer model;
  private final ModelConfig config;
  private final Kernels kernels;
  private final Workspace ws;
  private final Linear draftHead;

  public CpuEngine(Transformer model, Kernels kernels) {
    this(model, kernels, Engine.defaultDraftVocab(model.config().vocabSize()));
  }

  private CpuEngine(Transformer model, Kernels kernels, int draftVocab) {
    this.model = model;
    this.config = model.config();
    this.kernels = kernels;
    this.ws = new Workspace(config);
    this.draftHead = new Linear(kernels.firstRows(model.head().w(), draftVocab));
  }

  /**
   * The same model (weights shared) drafting over the first {@code draftVocab} token ids only.
   * Byte-level BPE assigns ids in merge order, the tokenizer corpus's pair-frequency order, so a
   * prefix of the ids is a frequency-ranked draft vocabulary (FR-Spec, Zhao et al. 2025) that
   * shares the head's storage. Only drafting changes: the main model verifies over the full
   * vocabulary, so output does not; a token outside the prefix is just never proposed.
   */
  @Override
  public CpuEngine withDraftVocab(int draftVocab) {
    return new CpuEngine(model, kernels, draftVocab);
  }

  @Override
  public int draftVocab() {
    return draftHead.out();
  }

  /** Loads a checkpoint directory onto the Vector API kernels, logging progress. */
  public static CpuEngine load(Path dir) throws IOException {
    return load(dir, new VectorKernels());
  }

  /** Loads a checkpoint directory onto the given kernels, logging progress. */
  public static CpuEngine load(Path dir, Kernels kernels) throws IOException {
    return load(dir, kernels, logProgress(dir));
  }

  public static CpuEngine load(Path dir, Kernels kernels, Checkpoint.Progress progress)
      throws IOException {
    ModelConfig config = ModelConfig.load(dir);
    try (Checkpoint ck = Checkpoint.open(dir, progress)) {
      ck.setBlockSize(config.fp8BlockSize());
      return new CpuEngine(Transformer.load(ck, config, kernels), kernels);
    }
  }

  /** Checkpoints smaller than this load in well under a second: progress would be noise. */
  private static final long LOG_PROGRESS_ABOVE = 256L << 20;

  /** Logs every tenth of a large checkpoint read. */
  private static Checkpoint.Progress logProgress(Path dir) {
    int[] lastTenth = {-1};
    return (tensor, read, total) -> {
      if (total < LOG_PROGRESS_ABOVE) {
        return;
      }
      int tenth = (int) (10 * read / Math.max(1, total));
      if (tenth != lastTenth[0]) {
        lastTenth[0] = tenth;
        LOG.info("loading {}: {}% ({} MB of {} MB)", dir, 10 * tenth, read >> 20, total >> 20);
      }
    };
  }

  @Override
  public String backend() {
    return "cpu";
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
  public ExpertLoad expertLoad() {
    return model.expertLoad();
  }

  @Override
  public long phaseNanos(Phase phase) {
    return ws.phases.nanos(phase);
  }

  @Override
  public boolean hasMtp() {
    return model.mtp() != null;
  }

  @Override
  public CpuSequence newSequence() {
    LatentCache mtp = hasMtp() ? new LatentCache(1, config.latentDim()) : null;
    return new CpuSequence(new LatentCache(config.numHiddenLayers(), config.latentDim()), mtp);
  }

  @Override
  public int bytesPerToken() {
    return LatentCache.bytesPerToken(config.numHiddenLayers(), config.latentDim());
  }

  @Override
  public List<StepResult> step(List<StepRequest> requests) {
    return step(requests, null);
  }

  /** As {@link #step(List)}, reporting intermediate values to trace. */
  public List<StepResult> step(List<StepRequest> requests, Trace trace) {
    int n = requests.size();
    Batch b =
        batch(
            n, i -> mine(requests.get(i).sequence()).cache(), i -> requests.get(i).tokens().length);
    int dim = config.hiddenSize();
    for (int i = 0; i < n; i++) {
      int[] tokens = requests.get(i).tokens();
      config.checkTokenIds(tokens);
      model.embed(tokens, tokens.length, ws.x(), b.start()[i] * dim, dim);
    }
    model.forward(kernels, ws, b, trace);
    b.commit();
    List<StepResult> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      StepRequest r = requests.get(i);
      int from =
          switch (r.logits()) {
            case ALL -> 0;
            case LAST -> r.tokens().length - 1;
            case NONE -> r.tokens().length;
          };
      float[][] logits = logits(model.head(), b.start()[i] + from, r.tokens().length - from);
      HiddenStates hidden = HiddenStates.of(rows(ws.xn(), b.start()[i], r.tokens().length, dim));
      out.add(
          r.choice() == null
              ? new StepResult(logits, hidden)
              : StepResult.chosen(logits, hidden, r.choice()));
    }
    return out;
  }

  @Override
  public List<float[][]> mtp(List<MtpRequest> requests) {
    Batch b = mtpForward(requests);
    List<float[][]> out = new ArrayList<>(requests.size());
    for (int i = 0; i < requests.size(); i++) {
      out.add(logits(model.head(), b.start()[i], requests.get(i).nextTokens().length));
    }
    return out;
  }

  /** Only the requests' last rows go through the draft head. */
  @Override
  public int[] draft(List<MtpRequest> requests, float minConfidence) {
    Batch b = mtpForward(requests);
    int[] out = new int[requests.size()];
    for (int i = 0; i < out.length; i++) {
      int row = b.start()[i] + requests.get(i).nextTokens().length - 1;
      float[] q = logits(draftHead, row, 1)[0];
      int token = Engine.argmax(q);
      out[i] = minConfidence <= 0 || confidence(q, token) >= minConfidence ? token : NO_DRAFT;
    }
    return out;
  }

  /** softmax(logits)[top] for the argmax top, overwriting logits (one row's, in a fixed order). */
  private float confidence(float[] logits, int top) {
    kernels.exp(logits, 0, logits.length, logits[top]);
    float sum = 0;
    for (float e : logits) {
      sum += e;
    }
    return 1 / sum;
  }

  /** Runs the MTP module over the requests' rows, leaving its head-normalized states in ws.xn. */
  private Batch mtpForward(List<MtpRequest> requests) {
    if (!hasMtp()) {
      throw new IllegalStateException("the model has no MTP module (num_nextn_predict_layers 0)");
    }
    int n = requests.size();
    Batch b =
        batch(
            n,
            i -> mine(requests.get(i).sequence()).mtpCache(),
            i -> requests.get(i).nextTokens().length);
    int dim = config.hiddenSize();
    float[] concat = ws.concat();
    for (int i = 0; i < n; i++) {
      MtpRequest r = requests.get(i);
      config.checkTokenIds(r.nextTokens());
      int row0 = b.start()[i];
      model.embed(r.nextTokens(), r.nextTokens().length, concat, row0 * 2 * dim, 2 * dim);
      for (int j = 0; j < r.hidden().rows(); j++) {
        float[] h = r.hidden().row(j);
        if (h.length != dim) {
          throw new IllegalArgumentException(
              "MTP hidden state of " + h.length + " values, the model has " + dim);
        }
        System.arraycopy(h, 0, concat, (row0 + j) * 2 * dim + dim, dim);
      }
    }
    model.mtp().forward(kernels, ws, b);
    b.commit();
    return b;
  }

  /** This engine's own sequence; another engine's cannot be stepped here. */
  private static CpuSequence mine(Sequence sequence) {
    if (sequence instanceof CpuSequence s) {
      return s;
    }
    throw new IllegalArgumentException("a sequence of another engine: " + sequence);
  }

  private Batch batch(
      int n,
      java.util.function.IntFunction<LatentCache> cache,
      java.util.function.IntUnaryOperator count) {
    int[] start = new int[n];
    int[] counts = new int[n];
    int[] pos0 = new int[n];
    LatentCache[] caches = new LatentCache[n];
    int rows = 0;
    for (int i = 0; i < n; i++) {
      caches[i] = cache.apply(i);
      for (int j = 0; j < i; j++) {
        if (caches[j] == caches[i]) {
          throw new IllegalArgumentException("a sequence appears twice in one step");
        }
      }
      start[i] = rows;
      counts[i] = count.applyAsInt(i);
      pos0[i] = caches[i].length();
      rows += counts[i];
    }
    ws.ensure(rows);
    Batch b = new Batch(rows, start, counts, pos0, caches);
    b.reserve();
    return b;
  }

  /** Rows [row0, row0 + n) of ws.xn through an output head. */
  private float[][] logits(Linear head, int row0, int n) {
    int vocab = head.out();
    float[] flat = new float[n * vocab];
    if (n > 0) {
      long started = System.nanoTime();
      head.apply(kernels, ws.xn(), row0 * config.hiddenSize(), n, flat, 0);
      ws.phases.add(Phase.HEAD, System.nanoTime() - started);
    }
    // Decoding asks for one row: hand it over without a copy.
    return n == 1 ? new float[][] {flat} : rows(flat, 0, n, vocab);
  }

  private static float[][] rows(float[] flat, int row0, int n, int width) {
    float[][] out = new float[n][];
    for (int i = 0; i < n; i++) {
      out[i] = java.util.Arrays.copyOfRange(flat, (row0 + i) * width, (row0 + i + 1) * width);
    }
    return out;
  }
}
