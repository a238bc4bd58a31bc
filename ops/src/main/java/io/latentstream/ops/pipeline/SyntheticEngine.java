package io.latentstream.ops.pipeline;

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
import java.util.ArrayList;
import java.util.List;

/**
 * An engine for benchmarks only, with no model: its forward pass costs next to nothing and its
 * tokens are a hash of the request's seed and the token's index, so {@code bench-pipeline --engine
 * synthetic} measures everything but the model (scheduling, detokenizing, event building,
 * serialization, the producer, the broker, commits, store writes). Only ops' benchmark constructs
 * it; the service's configuration cannot select it, and its backend name, {@code synthetic}, marks
 * every event it produces.
 *
 * <p>Tokens are drawn from the model's vocabulary without its end-of-sequence id, so every request
 * runs to its max_new_tokens, and the tokenizer detokenizes real (if meaningless) text. The engine
 * chooses tokens itself, as the CUDA engine does on the device: no logits reach the host.
 */
final class SyntheticEngine implements Engine {
  /** The logprob every synthetic token reports: ln(1/2), a plausible value of no meaning. */
  private static final float LOGPROB = (float) Math.log(0.5);

  private final ModelConfig config;
  private final int eosTokenId;

  /**
   * @param eosTokenId the id never drawn (the tokenizer's end of sequence); -1 for none
   */
  SyntheticEngine(ModelConfig config, int eosTokenId) {
    this.config = config;
    this.eosTokenId = eosTokenId;
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
  public String backend() {
    return "synthetic";
  }

  @Override
  public ExpertLoad expertLoad() {
    return ExpertLoad.NONE;
  }

  @Override
  public long phaseNanos(Phase phase) {
    return 0;
  }

  @Override
  public boolean hasMtp() {
    return false;
  }

  @Override
  public int draftVocab() {
    return Engine.defaultDraftVocab(config.vocabSize());
  }

  @Override
  public Engine withDraftVocab(int draftVocab) {
    return this;
  }

  @Override
  public Sequence newSequence() {
    return new Counter();
  }

  /** What the real engine's latents would take, so session-cache writes are real-sized. */
  @Override
  public int bytesPerToken() {
    return LatentCache.bytesPerToken(config.numHiddenLayers(), config.latentDim());
  }

  @Override
  public List<StepResult> step(List<StepRequest> requests) {
    List<StepResult> results = new ArrayList<>(requests.size());
    for (StepRequest request : requests) {
      Counter sequence = (Counter) request.sequence();
      sequence.length += request.tokens().length;
      int rows =
          switch (request.logits()) {
            case ALL -> request.tokens().length;
            case LAST -> 1;
            case NONE -> 0;
          };
      if (rows > 0 && request.choice() == null) {
        throw new UnsupportedOperationException(
            "the synthetic engine chooses tokens itself; it has no logits to return");
      }
      int[] tokens = new int[rows];
      float[] logprobs = new float[rows];
      for (int r = 0; r < rows; r++) {
        tokens[r] = token(request.choice().params().seed(), request.choice().firstIndex() + r);
        logprobs[r] = LOGPROB;
      }
      results.add(new StepResult(null, HiddenStates.of(new float[rows][0]), tokens, logprobs));
    }
    return results;
  }

  @Override
  public List<float[][]> mtp(List<MtpRequest> requests) {
    throw new UnsupportedOperationException("the synthetic engine has no MTP module");
  }

  @Override
  public int[] draft(List<MtpRequest> requests, float minConfidence) {
    throw new UnsupportedOperationException("the synthetic engine has no MTP module");
  }

  /** Token {@code index} of a generation seeded {@code seed}: a SplitMix64 hash of both. */
  int token(long seed, int index) {
    long z = seed * 0x9E3779B97F4A7C15L + index + 1;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z ^= z >>> 31;
    int vocab = eosTokenId < 0 ? config.vocabSize() : config.vocabSize() - 1;
    int id = (int) Long.remainderUnsigned(z, vocab);
    return eosTokenId >= 0 && id >= eosTokenId ? id + 1 : id;
  }

  /** A sequence that only counts its tokens; its latents are zeros of the real size. */
  private final class Counter implements Sequence {
    int length;

    @Override
    public int length() {
      return length;
    }

    @Override
    public int mtpLength() {
      return -1;
    }

    @Override
    public void truncate(int n) {
      length = Math.min(length, n);
    }

    @Override
    public byte[] exportRange(int from, int to) {
      return new byte[(to - from) * bytesPerToken()];
    }

    @Override
    public void importRange(int from, byte[] bytes) {
      length = from + bytes.length / bytesPerToken();
    }
  }
}
