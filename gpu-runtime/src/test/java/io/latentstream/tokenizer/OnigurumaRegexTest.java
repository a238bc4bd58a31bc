package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The character types of translated patterns, over every code point, against their definitions in
 * Oniguruma's documentation (doc/RE), written here with the general categories of the Unicode
 * version the reference's Oniguruma uses.
 */
class OnigurumaRegexTest {
  @Test
  void whitespaceIsUnicodeWhitespace() {
    IntPredicate onig =
        cp ->
            (cp >= 0x09 && cp <= 0x0D)
                || cp == 0x85
                || category(cp).equals("Zs")
                || category(cp).equals("Zl")
                || category(cp).equals("Zp");
    assertSameCodePoints("\\s", onig);
    assertSameCodePoints("[\\s]", onig);
    assertSameCodePoints("\\S", onig.negate());
    assertSameCodePoints("[^\\S]", onig);
  }

  @Test
  void digitsAndWordCharactersAreUnicodeCategories() {
    assertSameCodePoints("\\d", cp -> category(cp).equals("Nd"));
    IntPredicate word =
        cp ->
            category(cp).startsWith("L")
                || category(cp).startsWith("M")
                || category(cp).startsWith("N")
                || category(cp).equals("Pc");
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
    assertSameCodePoints("\\p{^L}", cp -> !category(cp).startsWith("L"));
    assertSameCodePoints(
        "[^\\r\\n\\p{L}\\p{P}\\p{S}]",
        cp -> cp != '\r' && cp != '\n' && !category(cp).matches("[LPS]."));
    assertSameCodePoints(
        "\\p{Han}", cp -> Character.UnicodeScript.of(cp) == Character.UnicodeScript.HAN);
  }

  @Test
  void categoriesFollowUnicode14WhereJava17KnowsOnly13() {
    // U+1FAE0 MELTING FACE (So) and U+1E290 TOTO LETTER PA (Lo) are new in Unicode 14.0.
    assertEquals("Cn", UnicodeCategories.javaCategoryOf(0x1FAE0), "Java 17 does not know it");
    assertSameCodePoints("\\p{S}", cp -> category(cp).startsWith("S"));
    assertEquals(List.of("hello", " 🫠", "a"), split("\\p{L}+| ?\\p{S}+", "hello 🫠a"));
    assertEquals(List.of("x", " \uD838\uDE90y"), split("[^\\p{L}]?\\p{L}+", "x \uD838\uDE90y"));
  }

  @Test
  void thePinnedTableOnlyAddsWhatJava17LacksAndOneRecategorizedMark() {
    List<String> differences = new ArrayList<>();
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      String java = UnicodeCategories.javaCategoryOf(cp);
      if (!java.equals("Cn") && !java.equals(category(cp))) {
        differences.add(String.format("U+%04X %s->%s", cp, java, category(cp)));
      }
    }
    // Unicode 14.0 changed TAGALOG SIGN PAMUDPOD from Mn to Mc.
    assertEquals(List.of("U+1734 Mn->Mc"), differences);
  }

  @Test
  void aSearchNeverStartsInsideASurrogatePair() {
    // Java would try the low half of 😀 (category Cs, not So) and match it there.
    assertEquals(List.of("a", "😀", "b"), split("[^\\p{So}]", "a😀b"));
    assertEquals(List.of("😀"), split("[^\\p{So}]", "😀"));
  }

  @Test
  void aClosingBracketFirstInAClassIsLiteral() {
    assertEquals(List.of("x", "]a]", "y"), split("[]a]+", "x]a]y"));
    assertEquals(List.of("]", "ab", "]"), split("[^]]+", "]ab]"));
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

  private static String category(int cp) {
    return UnicodeCategories.categoryOf(cp);
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
