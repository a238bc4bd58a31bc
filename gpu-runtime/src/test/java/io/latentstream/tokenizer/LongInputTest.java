package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Long runs of one kind of character become one long regex match and one long BPE word. They must
 * neither overflow the stack (surefire runs tests with -Xss4m; this runs on a 512 KiB stack like a
 * default thread's) nor take quadratic time.
 */
class LongInputTest {
  @Test
  void longRunsEncodeAndDecodeOnASmallStack() throws InterruptedException {
    Tokenizer tokenizer = SharedTokenizers.deepseekV3();
    List<String> texts =
        List.of(
            "a".repeat(200_000),
            " ".repeat(200_000) + "x",
            "\n".repeat(100_000),
            "9".repeat(100_000),
            "😀".repeat(50_000),
            "深".repeat(100_000),
            "e\u0301".repeat(50_000),
            ".-".repeat(100_000));
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread worker =
        new Thread(
            null,
            () -> {
              try {
                for (String text : texts) {
                  assertEquals(text, tokenizer.decode(tokenizer.encode(text)));
                }
              } catch (Throwable t) {
                failure.set(t);
              }
            },
            "small-stack",
            512 * 1024);
    worker.start();
    worker.join(60_000);
    if (failure.get() != null) {
      throw new AssertionError(failure.get());
    }
    assertEquals(false, worker.isAlive(), "finished within a minute");
  }
}
