package io.latentstream.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * The pre-tokenizer: a sequence of steps, each of which cuts every current piece into smaller ones
 * (a regex {@code Split}) or rewrites it ({@code ByteLevel}, into byte-level characters). The BPE
 * model then encodes each final piece, a "word", on its own.
 */
public final class PreTokenizer {
  /** One step of the sequence, applied to every piece in turn. */
  sealed interface Step permits SplitStep, ByteLevelStep {}

  /** {@code Split} with the Isolated behaviour. */
  record SplitStep(RegexSplit split) implements Step {}

  /**
   * {@code ByteLevel}: optionally a space before pieces that lack one, optionally GPT-2's split
   * regex, then every piece as byte-level characters.
   */
  record ByteLevelStep(boolean addPrefixSpace, RegexSplit gpt2Split) implements Step {}

  /** GPT-2's pattern, which {@code ByteLevel} applies when {@code use_regex} is true. */
  static final String GPT2_PATTERN =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

  private final List<Step> steps;

  PreTokenizer(List<Step> steps) {
    this.steps = List.copyOf(steps);
  }

  /** Cuts {@code text} into the words the BPE model encodes, appended to {@code words}. */
  void preTokenize(String text, List<String> words) {
    List<String> pieces = new ArrayList<>();
    pieces.add(text);
    List<String> next = new ArrayList<>();
    for (Step step : steps) {
      next.clear();
      for (String piece : pieces) {
        apply(step, piece, next);
      }
      List<String> swap = pieces;
      pieces = next;
      next = swap;
    }
    words.addAll(pieces);
  }

  /** The words of {@code text}, for tests and tools. */
  public List<String> preTokenize(String text) {
    List<String> words = new ArrayList<>();
    preTokenize(text, words);
    return words;
  }

  private static void apply(Step step, String piece, List<String> out) {
    if (step instanceof SplitStep s) {
      s.split().split(piece, out);
    } else if (step instanceof ByteLevelStep b) {
      String prefixed = b.addPrefixSpace() && !piece.startsWith(" ") ? " " + piece : piece;
      if (b.gpt2Split() == null) {
        out.add(ByteLevel.encode(prefixed));
      } else {
        int first = out.size();
        b.gpt2Split().split(prefixed, out);
        for (int i = first; i < out.size(); i++) {
          out.set(i, ByteLevel.encode(out.get(i)));
        }
      }
    }
  }
}
