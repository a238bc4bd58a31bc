package io.latentstream.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The added tokens (DeepSeek's {@code <｜User｜>}, {@code <｜end▁of▁sentence｜>}, ...): found in the
 * input first, leftmost-longest as Hugging Face's Aho-Corasick does, so they are never split and
 * the text between them is pre-tokenized on its own.
 */
public final class AddedTokens {
  /** A stretch of input: an added token's id, or text (id -1) for the model to encode. */
  record Segment(int id, String text) {
    boolean isToken() {
      return id >= 0;
    }
  }

  private final List<AddedToken> tokens;
  private final Map<Integer, AddedToken> byId = new HashMap<>();
  private final Map<String, AddedToken> byContent = new HashMap<>();
  private final Trie raw;
  private final Trie normalized;

  AddedTokens(List<AddedToken> tokens) {
    this.tokens = List.copyOf(tokens);
    List<AddedToken> matchedRaw = new ArrayList<>();
    List<AddedToken> matchedNormalized = new ArrayList<>();
    for (AddedToken t : tokens) {
      byId.put(t.id(), t);
      byContent.put(t.content(), t);
      (t.normalized() ? matchedNormalized : matchedRaw).add(t);
    }
    raw = new Trie(matchedRaw);
    normalized = new Trie(matchedNormalized);
  }

  public List<AddedToken> all() {
    return tokens;
  }

  /** The added token with this id, or null. */
  public AddedToken byId(int id) {
    return byId.get(id);
  }

  /** The added token with this content, or null. */
  public AddedToken byContent(String content) {
    return byContent.get(content);
  }

  /**
   * Cuts {@code text} into added tokens and the text between them: first the tokens matched in the
   * raw input, then, in what is left, those matched after normalization (the normalizers accepted
   * here change nothing, so both passes see the same text).
   */
  List<Segment> split(String text) {
    List<Segment> firstPass = new ArrayList<>();
    raw.split(text, firstPass);
    if (normalized.isEmpty()) {
      return firstPass;
    }
    List<Segment> out = new ArrayList<>();
    for (Segment s : firstPass) {
      if (s.isToken()) {
        out.add(s);
      } else {
        normalized.split(s.text(), out);
      }
    }
    return out;
  }

  /** Leftmost-longest matching of a set of token contents. */
  private static final class Trie {
    private static final class Node {
      final Map<Character, Node> children = new HashMap<>();
      AddedToken token;
    }

    private final Node root = new Node();
    private final boolean[] firstChars = new boolean[Character.MAX_VALUE + 1];
    private final boolean empty;

    Trie(List<AddedToken> tokens) {
      for (AddedToken t : tokens) {
        if (t.content().isEmpty()) {
          continue;
        }
        Node node = root;
        for (int i = 0; i < t.content().length(); i++) {
          node = node.children.computeIfAbsent(t.content().charAt(i), c -> new Node());
        }
        node.token = t;
        firstChars[t.content().charAt(0)] = true;
      }
      empty = root.children.isEmpty();
    }

    boolean isEmpty() {
      return empty;
    }

    void split(String text, List<Segment> out) {
      if (empty) {
        out.add(new Segment(-1, text));
        return;
      }
      int previousEnd = 0;
      int i = 0;
      while (i < text.length()) {
        if (!firstChars[text.charAt(i)]) {
          i++;
          continue;
        }
        AddedToken longest = null;
        int longestEnd = -1;
        Node node = root;
        for (int j = i; j < text.length(); j++) {
          node = node.children.get(text.charAt(j));
          if (node == null) {
            break;
          }
          if (node.token != null) {
            longest = node.token;
            longestEnd = j + 1;
          }
        }
        if (longest == null) {
          i++;
          continue;
        }
        int start = i;
        int stop = longestEnd;
        // A match found by the automaton is dropped, not retried, when single_word rejects it.
        if (longest.singleWord()
            && (endsWithWordChar(text, start) || startsWithWordChar(text, stop))) {
          i = stop;
          continue;
        }
        if (longest.lstrip()) {
          while (start > previousEnd && isWhiteSpace(text.codePointBefore(start))) {
            start -= Character.charCount(text.codePointBefore(start));
          }
        }
        if (longest.rstrip()) {
          while (stop < text.length() && isWhiteSpace(text.codePointAt(stop))) {
            stop += Character.charCount(text.codePointAt(stop));
          }
        }
        if (start > previousEnd) {
          out.add(new Segment(-1, text.substring(previousEnd, start)));
        }
        out.add(new Segment(longest.id(), longest.content()));
        previousEnd = stop;
        i = stop;
      }
      if (previousEnd < text.length()) {
        out.add(new Segment(-1, text.substring(previousEnd)));
      }
    }

    private static boolean endsWithWordChar(String text, int index) {
      return index > 0 && isAlphanumeric(text.codePointBefore(index));
    }

    private static boolean startsWithWordChar(String text, int index) {
      return index < text.length() && isAlphanumeric(text.codePointAt(index));
    }

    /** Rust's {@code char::is_whitespace}: the White_Space property, unlike Java's own. */
    private static boolean isWhiteSpace(int cp) {
      int type = Character.getType(cp);
      return (cp >= 0x09 && cp <= 0x0D)
          || cp == 0x85
          || type == Character.SPACE_SEPARATOR
          || type == Character.LINE_SEPARATOR
          || type == Character.PARAGRAPH_SEPARATOR;
    }

    /** Rust's {@code char::is_alphanumeric}: Alphabetic or a numeric category. */
    private static boolean isAlphanumeric(int cp) {
      int type = Character.getType(cp);
      return Character.isAlphabetic(cp)
          || type == Character.DECIMAL_DIGIT_NUMBER
          || type == Character.LETTER_NUMBER
          || type == Character.OTHER_NUMBER;
    }
  }
}
