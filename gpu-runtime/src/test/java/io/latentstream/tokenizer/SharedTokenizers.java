package io.latentstream.tokenizer;

/** The reference tokenizers, loaded once per test run: loading DeepSeek-V3's takes a second. */
final class SharedTokenizers {
  private static Tokenizer deepseekV3;

  private SharedTokenizers() {}

  static synchronized Tokenizer deepseekV3() {
    if (deepseekV3 == null) {
      deepseekV3 = Tokenizer.load(SharedData.deepseekV3());
    }
    return deepseekV3;
  }
}
