package io.latentstream.sampling;

import java.util.List;

/**
 * How a request wants its tokens chosen.
 *
 * @param temperature 0 for greedy decoding, otherwise the softmax temperature
 * @param topP nucleus mass in (0, 1]; 1 keeps every token
 * @param topK keep only the k most probable tokens; 0 keeps every token
 * @param seed key of the request's counter-based random numbers (see {@link Philox})
 * @param maxNewTokens how many tokens to generate at most
 * @param stopStrings generation stops before the first occurrence of any of these in the text
 */
public record SamplingParams(
    double temperature,
    double topP,
    int topK,
    long seed,
    int maxNewTokens,
    List<String> stopStrings) {

  public SamplingParams {
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature must be a finite number >= 0: " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("top_p must be in (0, 1]: " + topP);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("top_k must be >= 0 (0 disables it): " + topK);
    }
    if (maxNewTokens <= 0) {
      throw new IllegalArgumentException("max_new_tokens must be > 0: " + maxNewTokens);
    }
    stopStrings = List.copyOf(stopStrings);
    if (stopStrings.stream().anyMatch(String::isEmpty)) {
      throw new IllegalArgumentException("stop strings must not be empty");
    }
  }

  /** Greedy decoding of at most {@code maxNewTokens} tokens, without stop strings. */
  public static SamplingParams greedy(int maxNewTokens) {
    return new SamplingParams(0, 1, 0, 0, maxNewTokens, List.of());
  }

  public boolean isGreedy() {
    return temperature == 0;
  }

  public SamplingParams withSeed(long newSeed) {
    return new SamplingParams(temperature, topP, topK, newSeed, maxNewTokens, stopStrings);
  }
}
