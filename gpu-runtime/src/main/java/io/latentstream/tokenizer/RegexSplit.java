package io.latentstream.tokenizer;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code Split} pre-tokenizer with the {@code Isolated} behaviour: every match of the pattern
 * becomes its own piece, and so does every stretch of text between matches. ({@code invert} makes
 * no difference under {@code Isolated}: both kinds of stretch are kept either way.)
 */
final class RegexSplit {
  private final Pattern pattern;

  private RegexSplit(Pattern pattern) {
    this.pattern = pattern;
  }

  /** A split on an Oniguruma regex ({@code "pattern": {"Regex": ...}}). */
  static RegexSplit regex(String onigurumaPattern) {
    return new RegexSplit(OnigurumaRegex.compile(onigurumaPattern));
  }

  /** A split on a literal string ({@code "pattern": {"String": ...}}). */
  static RegexSplit literal(String text) {
    return new RegexSplit(Pattern.compile(Pattern.quote(text)));
  }

  /**
   * Appends the pieces of {@code piece} to {@code out}, in order, without empty ones. Each piece is
   * matched on its own, as Hugging Face does: look-ahead stops at the piece's end.
   */
  void split(String piece, List<String> out) {
    Matcher m = pattern.matcher(piece);
    // Transparent, non-anchoring bounds so that restarting the search inside the piece (below)
    // changes where a match may start, and nothing else.
    m.useTransparentBounds(true).useAnchoringBounds(false);
    int end = piece.length();
    int previous = 0;
    while (m.find()) {
      int start = m.start();
      int matchEnd = m.end();
      boolean insidePair =
          start > 0
              && start < end
              && Character.isLowSurrogate(piece.charAt(start))
              && Character.isHighSurrogate(piece.charAt(start - 1));
      if (insidePair || matchEnd == start) {
        // Java tried the low half of a surrogate pair as a start position, where Oniguruma steps
        // by whole characters; or the match is empty and splits nothing. Either way, search
        // again from the next whole character.
        if (start >= end) {
          break;
        }
        int next = insidePair ? start + 1 : start + Character.charCount(piece.codePointAt(start));
        if (next >= end) {
          break; // only an empty match could start at the end
        }
        m.region(next, end);
        continue;
      }
      if (start > previous) {
        out.add(piece.substring(previous, start));
      }
      out.add(piece.substring(start, matchEnd));
      previous = matchEnd;
    }
    if (previous < end) {
      out.add(previous == 0 ? piece : piece.substring(previous));
    }
  }
}
