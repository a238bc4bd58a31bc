package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The character types of translated patterns, over every code point, against their definitions in
 * Oniguruma's documentation (doc/RE), written here with {@link Character}'s categories.
 */
class OnigurumaRegexTest {
  @Test
  void whitespaceIsUnicodeWhitespace() {
    IntPredicate onig =
        cp ->
            (cp >= 0x09 && cp <= 0x0D)
                || cp == 0x85
                || Character.getType(cp) == Character.SPACE_SEPARATOR
                || Character.getType(cp) == Character.LINE_SEPARATOR
                || Character.getType(cp) == Character.PARAGRAPH_SEPARATOR;
    assertSameCodePoints("\\s", onig);
    assertSameCodePoints("[\\s]", onig);
    assertSameCodePoints("\\S", onig.negate());
    assertSameCodePoints("[^\\S]", onig);
  }

  @Test
  void digitsAndWordCharactersAreUnicodeCategories() {
    assertSameCodePoints("\\d", cp -> Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER);
    IntPredicate word =
        cp -> {
          int t = Character.getType(cp);
          return Character.isLetter(cp)
              || t == Character.NON_SPACING_MARK
              || t == Character.ENCLOSING_MARK
              || t == Character.COMBINING_SPACING_MARK
              || t == Character.DECIMAL_DIGIT_NUMBER
              || t == Character.LETTER_NUMBER
              || t == Character.OTHER_NUMBER
              || t == Character.CONNECTOR_PUNCTUATION;
        };
    assertSameCodePoints("\\w", word);
    assertSameCodePoints("\\W", word.negate());
  }

  @Test
  void hIsAHexDigitAsInRubySyntax() {
    assertSameCodePoints(
        "\\h",
        cp -> (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'f') || (cp >= 'A' && cp <= 'F'));
  }

  @Test
  void negatedPropertiesAndScripts() {
    assertSameCodePoints("\\p{^L}", cp -> !Character.isLetter(cp));
    assertSameCodePoints(
        "\\p{Han}", cp -> Character.UnicodeScript.of(cp) == Character.UnicodeScript.HAN);
  }

  @Test
  void aSearchNeverStartsInsideASurrogatePair() {
    // Java would try the low half of 😀 (category Cs, not So) and match it there.
    assertEquals(List.of("a", "😀", "b"), split("[^\\p{So}]", "a😀b"));
    assertEquals(List.of("😀"), split("[^\\p{So}]", "😀"));
  }

  @Test
  void emptyMatchesSplitNothing() {
    assertEquals(List.of("abc"), split("x*", "abc"));
    assertEquals(List.of("a", "xx", "b"), split("x*", "axxb"));
  }

  @Test
  void eachSplitSeesOnlyItsPiece() {
    // After the digits are cut out, "a  " is matched alone: its trailing spaces stay one piece,
    // where a look-ahead seeing the "1" would have cut them in two.
    PreTokenizer preTokenizer =
        new PreTokenizer(
            List.of(
                new PreTokenizer.SplitStep(RegexSplit.regex("\\p{N}{1,3}")),
                new PreTokenizer.SplitStep(RegexSplit.regex("\\S+|\\s+(?!\\S)|\\s+"))));
    assertEquals(List.of("a", "  ", "1"), preTokenizer.preTokenize("a  1"));
    assertEquals(List.of("a", " ", " ", "b"), split("\\S+|\\s+(?!\\S)|\\s+", "a  b"));
  }

  private static List<String> split(String pattern, String text) {
    List<String> out = new ArrayList<>();
    RegexSplit.regex(pattern).split(text, out);
    return out;
  }

  private static void assertSameCodePoints(String onigurumaPattern, IntPredicate expected) {
    Pattern pattern = OnigurumaRegex.compile(onigurumaPattern);
    List<String> wrong = new ArrayList<>();
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      if (cp >= Character.MIN_SURROGATE && cp <= Character.MAX_SURROGATE) {
        continue;
      }
      boolean matches = pattern.matcher(Character.toString(cp)).matches();
      if (matches != expected.test(cp) && wrong.size() < 10) {
        wrong.add(String.format("U+%04X %s", cp, matches ? "matched" : "not matched"));
      }
    }
    assertEquals(
        List.of(), wrong, onigurumaPattern + " -> " + OnigurumaRegex.translate(onigurumaPattern));
  }
}
