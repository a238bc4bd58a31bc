package io.latentstream.engine;

import io.latentstream.model.ExpertLoad;
import io.latentstream.model.ModelConfig;
import io.latentstream.model.Phase;
import io.latentstream.sampling.SamplingParams;
import java.util.List;

/**
 * An inference engine: a loaded model and the batched step over independent sequences, whatever
 * runs it (engine.cpu's on the CPU, engine.cuda's on a GPU). The scheduler, the generation loop,
 * the service, every command and replay program against this; only the places that assemble the
 * service and the command line name an implementation.
 *
 * <p>{@link #step} runs any mix of prefill chunks and decode rows in one forward pass; a sequence's
 * numbers do not depend on what else shares the batch. Engines are not thread-safe: one caller
 * drives an engine.
 */
public interface Engine {
  /** What {@link #draft} returns for a request whose MTP is not confident enough to draft. */
  int NO_DRAFT = -1;

  ModelConfig config();

  /**
   * The backend's name as events and session caches record it ({@code cpu}, {@code cuda}). A
   * sequence's tokens are reproducible bitwise on the same backend only: the backends sum in
   * different orders (and the GPU in bf16), so their logits differ in the last bits.
   */
  String backend();

  /** Routed token counts per expert of every MoE layer (for metrics; counting is always on). */
  ExpertLoad expertLoad();

  /** Nanoseconds spent in a phase of the forward passes since load (for metrics). */
  long phaseNanos(Phase phase);

  /** Whether the model has an MTP module to draft with. */
  boolean hasMtp();

  /** Token ids [0, draftVocab()) are the ones MTP can draft. */
  int draftVocab();

  /** The same model (weights shared) drafting over the first {@code draftVocab} token ids only. */
  Engine withDraftVocab(int draftVocab);

  /** A fresh, empty sequence of this engine (another engine's sequences cannot be stepped here). */
  Sequence newSequence();

  /** The latent cache all sequences share (the scheduler's admission control reads it). */
  default CacheCapacity cacheCapacity() {
    return CacheCapacity.UNBOUNDED;
  }

  /** Bytes of one token of {@link Sequence#exportRange} (the session-cache store's chunks). */
  int bytesPerToken();

  /** One forward pass over several sequences; results in request order. */
  List<StepResult> step(List<StepRequest> requests);

  /** One MTP forward over several sequences; logits [rows, vocab] per request, in order. */
  List<float[][]> mtp(List<MtpRequest> requests);

  /**
   * One MTP forward over several sequences that keeps their MTP caches in step and drafts from each
   * request's last row: the argmax of its logits over the draft vocabulary, or {@link #NO_DRAFT}
   * when its probability (softmax over the draft vocabulary) is below {@code minConfidence}.
   */
  int[] draft(List<MtpRequest> requests, float minConfidence);

  /**
   * Greedy decoding of one sequence: the engine's argmax each step, the cache carrying the context.
   */
  default int[] generateGreedy(int[] prompt, int maxNewTokens) {
    Sequence seq = newSequence();
    try {
      int[] out = new int[maxNewTokens];
      int[] next = prompt;
      for (int i = 0; i < maxNewTokens; i++) {
        StepRequest.Choice greedy = new StepRequest.Choice(SamplingParams.greedy(1), i);
        out[i] =
            step(List.of(new StepRequest(seq, next, StepRequest.Logits.LAST, greedy)))
                .get(0)
                .tokens()[0];
        next = new int[] {out[i]};
      }
      return out;
    } finally {
      seq.release();
    }
  }

  /**
   * The draft vocabulary engines start with: a quarter of the vocabulary. On brown-mtp's own greedy
   * generations (5 benchmark and 4 golden prompts, 256 tokens each) the first 2,048 of 8,192 ids
   * hold 84% of the tokens, and drafting over them keeps acceptance at 0.39 of 0.41 while the draft
   * head costs a quarter.
   */
  static int defaultDraftVocab(int vocab) {
    return Math.max(1, vocab / 4);
  }

  /** Index of the largest logit; the lowest index wins ties (as torch.argmax). */
  static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      if (v[i] > v[best]) {
        best = i;
      }
    }
    return best;
  }
}
