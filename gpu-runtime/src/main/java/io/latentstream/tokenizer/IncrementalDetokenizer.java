package io.latentstream.tokenizer;

/**
 * Decodes a stream of ids one at a time, for streaming generated text: each call returns only
 * complete UTF-8 text. A character whose bytes are split across tokens (an emoji or a CJK character
 * often is) is held back until its last byte arrives, so the concatenation of all returned strings,
 * {@link #finish()} included, equals {@link Tokenizer#decode} of the whole sequence. Not
 * thread-safe: one per stream.
 */
public final class IncrementalDetokenizer {
  private final Tokenizer tokenizer;
  private final boolean skipSpecialTokens;
  private final ByteSink pending = new ByteSink();
  private final StringBuilder text = new StringBuilder();

  IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = skipSpecialTokens;
  }

  /**
   * Takes the next id and returns the text it completes: possibly empty (a partial character, a
   * skipped special token, an id without a token), possibly more than its own token (the end of a
   * held character).
   */
  public String next(int id) {
    text.setLength(0);
    AddedToken added = tokenizer.addedToken(id);
    if (added != null) {
      if (skipSpecialTokens && added.special()) {
        return "";
      }
      // An added token's text is not byte-level: what is held cannot be completed across it.
      flushAll();
      return text.append(added.content()).toString();
    }
    String token = tokenizer.modelToken(id);
    if (token == null) {
      return "";
    }
    ByteLevel.appendBytes(token, pending);
    int consumed = Utf8.decode(pending.array(), pending.length(), text, false);
    pending.discardPrefix(consumed);
    return text.toString();
  }

  /** Ends the stream: returns what is held, an incomplete character as U+FFFD. */
  public String finish() {
    text.setLength(0);
    flushAll();
    return text.toString();
  }

  /** Whether bytes of an incomplete character are held. */
  public boolean hasPendingBytes() {
    return pending.length() > 0;
  }

  private void flushAll() {
    Utf8.decode(pending.array(), pending.length(), text, true);
    pending.clear();
  }
}
