package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Matching added tokens as Hugging Face's AddedVocabulary does. */
class AddedTokensTest {
  private static AddedToken token(int id, String content, boolean normalized) {
    return new AddedToken(id, content, true, normalized, false, false, false);
  }

  private static String render(List<AddedTokens.Segment> segments) {
    StringBuilder out = new StringBuilder();
    for (AddedTokens.Segment s : segments) {
      out.append(s.isToken() ? "[" + s.id() + "]" : "(" + s.text() + ")");
    }
    return out.toString();
  }

  @Test
  void leftmostLongestWins() {
    AddedTokens tokens =
        new AddedTokens(
            List.of(token(1, "<a>", false), token(2, "<a><b>", false), token(3, "a><b", false)));
    assertEquals("(x)[2](y)", render(tokens.split("x<a><b>y")));
    assertEquals("(x)[1](<b y)", render(tokens.split("x<a><b y")));
  }

  @Test
  void rawTokensAreCutBeforeNormalizedOnes() {
    AddedTokens tokens = new AddedTokens(List.of(token(1, "<x>", false), token(2, "x>y", true)));
    // The raw pass takes <x> first; the normalized pass only sees what is left.
    assertEquals("[1](y)", render(tokens.split("<x>y")));
    assertEquals("(a)[2]", render(tokens.split("ax>y")));
  }

  @Test
  void stripFlagsTakeTheAdjacentWhitespace() {
    AddedToken both = new AddedToken(7, "<m>", true, false, false, true, true);
    AddedTokens tokens = new AddedTokens(List.of(both));
    assertEquals("(a)[7](b)", render(tokens.split("a \u00A0<m>\t b")));
  }

  @Test
  void singleWordTokensDoNotMatchInsideWords() {
    AddedToken word = new AddedToken(9, "cat", false, false, true, false, false);
    AddedTokens tokens = new AddedTokens(List.of(word));
    assertEquals("(concatenate)", render(tokens.split("concatenate")));
    assertEquals("(a )[9]( b)", render(tokens.split("a cat b")));
  }
}
