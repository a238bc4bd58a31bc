package io.latentstream.sampling;

/**
 * Philox4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As Easy as
 * 1, 2, 3" (SC'11), also used by cuRAND and PyTorch.
 *
 * <p>A draw is a pure function of (key, counter): a request's random numbers are keyed by its seed
 * and addressed by (token index, purpose), so they do not depend on which other requests share a
 * batch, on batch size, on restarts or on the backend. The same function runs in the CUDA kernels.
 */
public final class Philox {
  private static final int M0 = 0xD2511F53;
  private static final int M1 = 0xCD9E8D57;
  private static final int W0 = 0x9E3779B9;
  private static final int W1 = 0xBB67AE85;
  private static final int ROUNDS = 10;

  private Philox() {}

  /**
   * Returns the first 32-bit word of Philox4x32-10 for the 64-bit key {@code seed} and the 128-bit
   * counter (c0, c1, c2, c3).
   */
  public static int word(long seed, int c0, int c1, int c2, int c3) {
    int k0 = (int) seed;
    int k1 = (int) (seed >>> 32);
    int x0 = c0;
    int x1 = c1;
    int x2 = c2;
    int x3 = c3;
    for (int round = 0; round < ROUNDS; round++) {
      long p0 = (M0 & 0xFFFFFFFFL) * (x0 & 0xFFFFFFFFL);
      long p1 = (M1 & 0xFFFFFFFFL) * (x2 & 0xFFFFFFFFL);
      int hi0 = (int) (p0 >>> 32);
      int lo0 = (int) p0;
      int hi1 = (int) (p1 >>> 32);
      int lo1 = (int) p1;
      x0 = hi1 ^ x1 ^ k0;
      x1 = lo1;
      x2 = hi0 ^ x3 ^ k1;
      x3 = lo0;
      k0 += W0;
      k1 += W1;
    }
    return x0;
  }

  /**
   * The uniform double in [0, 1) that chooses the token at {@code tokenIndex} of the generation
   * keyed by {@code seed}: the top 24 bits of one Philox word. 24 bits keep the value exact in
   * float arithmetic too, so a CUDA sampler can draw the very same number.
   */
  public static double uniform(long seed, int tokenIndex) {
    int bits = word(seed, tokenIndex, 0, 0, 0);
    return (bits >>> 8) * 0x1.0p-24;
  }
}
