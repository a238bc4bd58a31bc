package io.latentstream.tokenizer;

/**
 * One entry of {@code added_tokens}: text matched in the input before pre-tokenization and never
 * split.
 *
 * @param normalized whether it is matched in the normalized text (else in the raw input)
 * @param special whether decoding may skip it
 * @param singleWord whether a match must not touch a word character on either side
 * @param lstrip whether the whitespace before a match belongs to it
 * @param rstrip whether the whitespace after a match belongs to it
 */
public record AddedToken(
    int id,
    String content,
    boolean special,
    boolean normalized,
    boolean singleWord,
    boolean lstrip,
    boolean rstrip) {}
