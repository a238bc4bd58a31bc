package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The heap-based merge loop against a plain reference: repeatedly merge the adjacent pair of lowest
 * rank, leftmost among equals, rescanning the whole word each time.
 */
class BpeModelTest {
  @Test
  void agreesWithTheNaiveReferenceOnRandomVocabularies() {
    Random random = new Random(11);
    for (int trial = 0; trial < 40; trial++) {
      Map<String, Integer> vocab = new HashMap<>();
      List<String> tokens = new ArrayList<>();
      for (char c : "abcde".toCharArray()) {
        vocab.put(String.valueOf(c), vocab.size());
        tokens.add(String.valueOf(c));
      }
      List<String[]> merges = new ArrayList<>();
      for (int m = 0; m < 60; m++) {
        String left = tokens.get(random.nextInt(tokens.size()));
        String right = tokens.get(random.nextInt(tokens.size()));
        if (left.length() + right.length() > 8) {
          continue;
        }
        merges.add(new String[] {left, right}); // repeats and equal concatenations included
        if (!vocab.containsKey(left + right)) {
          vocab.put(left + right, vocab.size());
          tokens.add(left + right);
        }
      }
      BpeModel model = new BpeModel(vocab, merges, null, false, false);
      for (int w = 0; w < 200; w++) {
        StringBuilder word = new StringBuilder();
        int length = 1 + random.nextInt(20);
        for (int i = 0; i < length; i++) {
          word.append("abcde".charAt(random.nextInt(random.nextBoolean() ? 2 : 5)));
        }
        assertArrayEquals(
            naive(vocab, merges, word.toString()),
            model.encodeWord(word.toString()),
            word.toString());
      }
    }
  }

  @Test
  void unknownCharactersAreDroppedOrFusedIntoUnk() {
    Map<String, Integer> vocab = Map.of("a", 0, "b", 1, "<unk>", 2, "ab", 3);
    List<String[]> merges = List.<String[]>of(new String[] {"a", "b"});
    assertArrayEquals(
        new int[] {3, 3}, new BpeModel(vocab, merges, null, false, false).encodeWord("abxxab"));
    assertArrayEquals(
        new int[] {3, 2, 2, 3},
        new BpeModel(vocab, merges, "<unk>", false, false).encodeWord("abxxab"));
    assertArrayEquals(
        new int[] {3, 2, 3},
        new BpeModel(vocab, merges, "<unk>", true, false).encodeWord("abxxab"));
  }

  @Test
  void ignoreMergesTakesAWholeWordFromTheVocabulary() {
    Map<String, Integer> vocab = Map.of("a", 0, "b", 1, "ab", 2, "bab", 3);
    List<String[]> merges = List.<String[]>of(new String[] {"a", "b"});
    assertArrayEquals(
        new int[] {1, 2}, new BpeModel(vocab, merges, null, false, false).encodeWord("bab"));
    assertArrayEquals(
        new int[] {3}, new BpeModel(vocab, merges, null, false, true).encodeWord("bab"));
  }

  /** The textbook algorithm: rescan for the best pair after every merge. */
  private static int[] naive(Map<String, Integer> vocab, List<String[]> merges, String word) {
    Map<String, Integer> rank = new HashMap<>();
    for (int r = 0; r < merges.size(); r++) {
      rank.put(merges.get(r)[0] + "\u0000" + merges.get(r)[1], r); // a later repeat wins
    }
    List<String> symbols = new ArrayList<>();
    for (char c : word.toCharArray()) {
      symbols.add(String.valueOf(c));
    }
    while (true) {
      int best = -1;
      int bestRank = Integer.MAX_VALUE;
      for (int i = 0; i + 1 < symbols.size(); i++) {
        Integer r = rank.get(symbols.get(i) + "\u0000" + symbols.get(i + 1));
        if (r != null && r < bestRank) {
          best = i;
          bestRank = r;
        }
      }
      if (best < 0) {
        break;
      }
      symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
    }
    int[] ids = new int[symbols.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = vocab.get(symbols.get(i));
    }
    assertEquals(word, String.join("", symbols));
    return ids;
  }
}
