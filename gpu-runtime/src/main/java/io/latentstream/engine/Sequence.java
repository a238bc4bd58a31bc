package io.latentstream.engine;

/**
 * One sequence's state between steps, held by the engine that made it: the main model's latent
 * cache and, with an MTP module, the MTP block's own. The engine appends to both; callers roll back
 * with {@link #truncate} and move the latents in and out as the session-cache store's chunks.
 */
public interface Sequence {
  /** Tokens processed by the main model (the position the next token takes). */
  int length();

  /**
   * Entries of the MTP block's cache (entry j pairs hidden state j with token j+1), or -1 when the
   * model has no MTP module.
   */
  int mtpLength();

  /**
   * Keeps the first n tokens (speculative decoding rolls back rejected drafts). MTP entry j pairs
   * hidden state j with token j+1, so only entries below n-1 stay valid.
   */
  void truncate(int n);

  /**
   * The main model's latents of tokens [from, to), {@link Engine#bytesPerToken} bytes each, in a
   * form {@link #importRange} restores bitwise (the session-cache store keeps them turn by turn).
   */
  byte[] exportRange(int from, int to);

  /**
   * Writes tokens exported by {@link #exportRange} at positions [from, from + count); from must not
   * exceed length (imports append or overwrite a suffix), and length becomes from + count.
   */
  void importRange(int from, byte[] bytes);

  /**
   * Gives back what the sequence holds in its engine beyond the heap (the CUDA engine's latent
   * pages), leaving it empty; a no-op where the garbage collector is enough.
   */
  default void release() {}
}
