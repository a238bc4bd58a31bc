package io.latentstream.topology;

import io.latentstream.schemas.PromptRequest;
import java.util.Arrays;

/**
 * The session rules that decide what a prompt generates from, shared by {@link GenerationProcessor}
 * and replay (io.latentstream.replay) so that a replay regenerates each turn from the history the
 * service gave it.
 */
public final class SessionTurns {
  private SessionTurns() {}

  /** The session a prompt continues, or null for a one-off request (no session id or tenant). */
  public static SessionKey sessionOf(PromptRequest prompt) {
    return prompt.getSessionId() == null
            || prompt.getSessionId().isBlank()
            || prompt.getTenant() == null
            || prompt.getTenant().isBlank()
        ? null
        : new SessionKey(prompt.getTenant(), prompt.getSessionId());
  }

  /** What a turn generates from: the session's history, then the turn's own tokens. */
  public static int[] context(int[] history, Turn turn) {
    return concat(history, turn.tokens());
  }

  /**
   * The session's history after a finished turn: the history, the turn and its reply; a chat reply
   * ends with EOS, as the chat template writes it, whether or not the generation stopped there.
   *
   * @param eos the tokenizer's EOS id, null without a tokenizer
   */
  public static int[] historyAfter(int[] history, Turn turn, int[] reply, Integer eos) {
    int[] after = concat(concat(history, turn.tokens()), reply);
    if (turn.chat() && eos != null && after[after.length - 1] != eos) {
      after = concat(after, new int[] {eos});
    }
    return after;
  }

  static int[] concat(int[] a, int[] b) {
    int[] both = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, both, a.length, b.length);
    return both;
  }
}
