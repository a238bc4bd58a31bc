package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Decoding whole sequences and streaming them through the incremental detokenizer. */
class DecodingTest {
  private static Tokenizer tokenizer;
  private static List<String> goldenTexts;

  @BeforeAll
  static void load() throws IOException {
    tokenizer = SharedTokenizers.deepseekV3();
    goldenTexts = new ArrayList<>();
    JsonNode cases =
        new ObjectMapper()
            .readTree(SharedData.deepseekV3().resolve("golden.json").toFile())
            .path("cases");
    for (JsonNode kase : cases) {
      goldenTexts.add(kase.path("text").asText());
    }
  }

  @Test
  void skippingSpecialTokensDropsExactlyTheSpecialOnes() {
    String bos = tokenizer.config().bosToken();
    String eos = tokenizer.config().eosToken();
    String user = "<｜User｜>"; // an added token that is not special in DeepSeek-V3
    assertTrue(tokenizer.addedTokens().byContent(bos).special());
    assertFalse(tokenizer.addedTokens().byContent(user).special());
    String text = bos + "Hello" + user + " wörld 😀" + eos;
    int[] ids = tokenizer.encode(text);
    assertEquals(text, tokenizer.decode(ids));
    assertEquals(text.replace(bos, "").replace(eos, ""), tokenizer.decode(ids, true));
  }

  @Test
  void streamingEqualsWholeDecodingOnEveryGoldenText() {
    int heldBack = 0;
    for (String text : goldenTexts) {
      int[] ids = tokenizer.encode(text);
      for (boolean skip : new boolean[] {false, true}) {
        IncrementalDetokenizer stream = tokenizer.newIncrementalDetokenizer(skip);
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) {
          String chunk = stream.next(id);
          assertWellFormed(chunk, text);
          heldBack += stream.hasPendingBytes() ? 1 : 0;
          streamed.append(chunk);
        }
        assertFalse(stream.hasPendingBytes(), "a valid text leaves nothing held: " + text);
        streamed.append(stream.finish());
        assertEquals(tokenizer.decode(ids, skip), streamed.toString());
      }
    }
    assertTrue(heldBack > 100, "the goldens split characters across tokens: " + heldBack);
  }

  @Test
  void emojiAndCjkSplitAcrossTokensAreHeldUntilComplete() {
    for (String text : List.of("😀", "👍🏽", "🇫🇷", "深度求索", "カタカナ", "한국어")) {
      int[] ids = tokenizer.encode(text);
      IncrementalDetokenizer stream = tokenizer.newIncrementalDetokenizer(false);
      StringBuilder streamed = new StringBuilder();
      int held = 0;
      for (int id : ids) {
        String chunk = stream.next(id);
        if (stream.hasPendingBytes()) {
          held++;
        }
        assertWellFormed(chunk, text);
        assertTrue(text.startsWith(streamed.append(chunk).toString()), "a prefix of " + text);
      }
      assertEquals(text, streamed.toString(), "complete once the last token is in");
      assertEquals("", stream.finish());
      if (text.equals("😀") || text.equals("👍🏽")) {
        assertTrue(held > 0, text + " is split across tokens: " + ids.length + " ids");
      }
    }
  }

  @Test
  void streamingEqualsWholeDecodingOnRandomIdsIncludingInvalidUtf8() {
    Random random = new Random(20261128);
    int vocab = tokenizer.vocabSize();
    for (int sequence = 0; sequence < 300; sequence++) {
      int[] ids = new int[1 + random.nextInt(40)];
      for (int i = 0; i < ids.length; i++) {
        // Mostly the single-byte tokens (ids below 256 or so are bytes and short fragments), so
        // that characters are cut and byte sequences go wrong, with some whole tokens too.
        ids[i] = random.nextInt(4) == 0 ? random.nextInt(vocab) : random.nextInt(300);
      }
      for (boolean skip : new boolean[] {false, true}) {
        IncrementalDetokenizer stream = tokenizer.newIncrementalDetokenizer(skip);
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) {
          String chunk = stream.next(id);
          assertNoLoneSurrogate(chunk);
          streamed.append(chunk);
        }
        streamed.append(stream.finish());
        assertEquals(tokenizer.decode(ids, skip), streamed.toString());
      }
    }
  }

  @Test
  void idsWithoutATokenAreDroppedAsInTheRustImplementation() {
    int[] hello = tokenizer.encode("Hello");
    int[] withUnknown = new int[hello.length + 2];
    withUnknown[0] = tokenizer.vocabSize() + 5; // the model's embedding has rows beyond
    System.arraycopy(hello, 0, withUnknown, 1, hello.length);
    withUnknown[withUnknown.length - 1] = -1;
    assertEquals("Hello", tokenizer.decode(withUnknown));
  }

  @Test
  void loneSurrogatesEncodeAsReplacementCharacters() {
    assertArrayEquals(tokenizer.encode("a\uFFFDb\uFFFD"), tokenizer.encode("a\uD800b\uDC00"));
    assertArrayEquals(tokenizer.encode("😀"), tokenizer.encode("\uD83D\uDE00"), "pairs stay");
  }

  private static void assertWellFormed(String chunk, String source) {
    assertNoLoneSurrogate(chunk);
    assertEquals(-1, chunk.indexOf(Utf8.REPLACEMENT), "no replacement character from " + source);
  }

  private static void assertNoLoneSurrogate(String chunk) {
    for (int i = 0; i < chunk.length(); i++) {
      char c = chunk.charAt(i);
      if (Character.isHighSurrogate(c)) {
        assertTrue(i + 1 < chunk.length() && Character.isLowSurrogate(chunk.charAt(i + 1)));
        i++;
      } else {
        assertFalse(Character.isLowSurrogate(c), "lone low surrogate");
      }
    }
  }
}
