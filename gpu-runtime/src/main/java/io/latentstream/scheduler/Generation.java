package io.latentstream.scheduler;

import io.latentstream.engine.Engine;
import io.latentstream.engine.MtpRequest;
import io.latentstream.engine.Sequence;
import io.latentstream.engine.StepRequest;
import io.latentstream.engine.StepResult;
import io.latentstream.sampling.StopStrings;
import io.latentstream.tokenizer.IncrementalDetokenizer;
import java.util.Arrays;

/**
 * One request in flight: its context, its sequence (latent caches), the draft token proposed by MTP
 * for the next step, and the streaming text state.
 *
 * <p>Invariant between steps: the main cache holds context[0, L) and the context has at least one
 * more token; once drafting, the MTP cache also holds L rows, row p fed with (h_p, context[p+1]).
 */
final class Generation {
  private final GenerationRequest request;
  private final GenerationListener listener;
  private final Sequence sequence;
  private final Limits limits;
  private final IncrementalDetokenizer detokenizer;
  private final StopStrings stopStrings;
  private final boolean drafting;
  private final int cachedPromptTokens;
  private final long submittedNanos;
  private int[] context;
  private int contextLength;
  private int nextIndex;
  private int draft = -1;
  private int drafted;
  private int accepted;
  private long startedNanos;
  private long firstTokenNanos;
  private FinishReason finishReason;
  private String failure;
  private final StringBuilder text = new StringBuilder();

  /** What every generation of a loop shares: model limits and how to detokenize. */
  record Limits(int eosTokenId, int maxPositions, boolean mtpDrafting) {}

  Generation(
      GenerationRequest request,
      GenerationListener listener,
      Sequence sequence,
      Limits limits,
      IncrementalDetokenizer detokenizer,
      long submittedNanos) {
    this.request = request;
    this.listener = listener;
    this.sequence = sequence;
    this.limits = limits;
    this.detokenizer = detokenizer;
    this.stopStrings = new StopStrings(request.params().stopStrings());
    this.submittedNanos = submittedNanos;
    this.context = Arrays.copyOf(request.context(), request.context().length + 16);
    this.contextLength = request.context().length;
    this.nextIndex = request.firstIndex();
    // The last context token must be fed to get the next token's logits.
    if (sequence.length() >= contextLength) {
      sequence.truncate(contextLength - 1);
    }
    this.cachedPromptTokens = Math.min(sequence.length(), request.promptLength());
    this.drafting =
        limits.mtpDrafting()
            && request.mtpDrafting()
            && sequence.mtpLength() == sequence.length(); // -1 without MTP
    replayGeneratedText();
  }

  /** On a resume, brings the detokenizer and stop strings to where the interrupted run was. */
  private void replayGeneratedText() {
    for (int i = request.promptLength(); i < contextLength; i++) {
      text.append(stopStrings.accept(detokenizer == null ? "" : detokenizer.next(context[i])));
    }
  }

  String requestId() {
    return request.requestId();
  }

  boolean finished() {
    return finishReason != null;
  }

  /** Tokens of the context not yet in the cache. */
  int pendingTokens() {
    return contextLength - sequence.length();
  }

  boolean prefilling() {
    return pendingTokens() > 1;
  }

  /** Notes when the request left the queue for its first step. */
  void markStarted(long nowNanos) {
    if (startedNanos == 0) {
      startedNanos = nowNanos;
    }
  }

  /**
   * The step input: the next prompt chunk of at most {@code budget} tokens, or the decode input.
   */
  StepRequest nextStep(int budget) {
    int start = sequence.length();
    if (prefilling()) {
      int n = Math.max(1, Math.min(budget, pendingTokens()));
      boolean reachesEnd = start + n == contextLength;
      return new StepRequest(
          sequence,
          Arrays.copyOfRange(context, start, start + n),
          reachesEnd ? StepRequest.Logits.LAST : StepRequest.Logits.NONE,
          reachesEnd ? choice() : null);
    }
    int last = context[contextLength - 1];
    return draft < 0
        ? new StepRequest(sequence, new int[] {last}, StepRequest.Logits.LAST, choice())
        : new StepRequest(sequence, new int[] {last, draft}, StepRequest.Logits.ALL, choice());
  }

  /** The engine draws the next tokens, the first at this generation's next index. */
  private StepRequest.Choice choice() {
    return new StepRequest.Choice(request.params(), nextIndex);
  }

  /** Tokens the next step will feed: a prefill chunk or 1 (2 with a draft). */
  int decodeWidth() {
    return draft < 0 ? 1 : 2;
  }

  /**
   * Takes one step's result: samples or verifies, emits tokens, rolls back a rejected draft, and
   * returns the MTP rows that keep the drafter in step (null when not drafting).
   */
  MtpRequest absorb(StepRequest step, StepResult result, long nowNanos) {
    int before = sequence.length() - step.tokens().length;
    if (step.logits() != StepRequest.Logits.NONE) {
      if (firstTokenNanos == 0) {
        firstTokenNanos = nowNanos;
      }
      int[] tokens = result.tokens();
      float[] logprobs = result.logprobs();
      if (draft < 0) {
        emit(tokens[tokens.length - 1], logprobs[tokens.length - 1], false);
      } else {
        verifyDraft(tokens, logprobs);
      }
    }
    if (!drafting || finished()) {
      return null;
    }
    int fed = sequence.mtpLength();
    int rows = sequence.length() - fed;
    int[] next = Arrays.copyOfRange(context, fed + 1, fed + 1 + rows);
    return new MtpRequest(sequence, result.hidden().slice(fed - before, fed - before + rows), next);
  }

  /**
   * Takes what MTP drafted from the rows just fed: the token after next, or {@link Engine#NO_DRAFT}
   * (the next step then decodes one token).
   */
  void draftFrom(int token) {
    if (token != Engine.NO_DRAFT && !prefilling() && !finished()) {
      draft = token;
      drafted++;
    }
  }

  /**
   * The drafter proposes one token, its argmax: a one-hot q. Speculative sampling then accepts it
   * with probability p(x) and otherwise draws from norm(max(0, p - q)), which is p without x.
   * Drawing the position's token from p with its own random draw and accepting the draft exactly
   * when they agree does both at once, and makes the output bitwise the same with drafting on or
   * off: a request resumed after a failover (which restarts without a draft) continues the
   * undisturbed run, and a replay without MTP reproduces one with it.
   */
  private void verifyDraft(int[] tokens, float[] logprobs) {
    int proposed = draft;
    draft = -1;
    if (tokens[0] != proposed) {
      sequence.truncate(sequence.length() - 1); // the draft's row leaves no trace
      emit(tokens[0], logprobs[0], false);
      return;
    }
    accepted++;
    emit(proposed, logprobs[0], true);
    if (!finished()) {
      emit(tokens[1], logprobs[1], false); // drawn at the index after the draft's
    }
  }

  private void emit(int token, float logprob, boolean fromDraft) {
    if (contextLength == context.length) {
      context = Arrays.copyOf(context, context.length * 2);
    }
    context[contextLength++] = token;
    int index = nextIndex++;
    String delta = stopStrings.accept(detokenizer == null ? "" : detokenizer.next(token));
    if (stopStrings.stopped() || token == limits.eosTokenId()) {
      finishReason = FinishReason.STOP;
    } else if (nextIndex >= request.params().maxNewTokens()
        || contextLength >= limits.maxPositions()) {
      finishReason = FinishReason.LENGTH;
    }
    if (finishReason != null && !stopStrings.stopped()) {
      String tail = detokenizer == null ? "" : detokenizer.finish();
      delta += stopStrings.accept(tail);
      delta += stopStrings.stopped() ? "" : stopStrings.flush();
    }
    text.append(delta);
    listener.onToken(
        new TokenEmission(
            request.requestId(), index, token, delta, logprob, fromDraft, finishReason));
  }

  /** Marks the generation failed; the loop retires it after the step. */
  void fail(String message) {
    finishReason = FinishReason.ERROR;
    failure = message;
  }

  /**
   * Reports the outcome of a finished generation, then gives the sequence back to the engine: the
   * listener keeps what it needs of it (a session's latents) during the call.
   */
  void finish(long nowNanos) {
    int promptLength = request.promptLength();
    listener.onFinished(
        new GenerationOutcome(
            request.requestId(),
            finishReason,
            Arrays.copyOfRange(context, promptLength, contextLength),
            text.toString(),
            promptLength,
            cachedPromptTokens,
            drafted,
            accepted,
            (startedNanos == 0 ? nowNanos : startedNanos) - submittedNanos,
            firstTokenNanos == 0 ? 0 : firstTokenNanos - submittedNanos,
            nowNanos - submittedNanos,
            sequence,
            failure));
    sequence.release();
  }

  /** Gives the sequence back to the engine without an outcome (a cancelled request). */
  void release() {
    sequence.release();
  }

  /** Tokens generated in this run (not counting those before a resume). */
  int generatedInThisRun() {
    return nextIndex - request.firstIndex();
  }

  int drafted() {
    return drafted;
  }

  int accepted() {
    return accepted;
  }
}
