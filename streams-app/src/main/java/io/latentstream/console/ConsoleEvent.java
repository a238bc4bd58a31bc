package io.latentstream.console;

import io.micronaut.serde.annotation.Serdeable;

/**
 * One event of the console's live stream: a request started ({@code start}), produced a token
 * ({@code token}) or finished ({@code end}).
 *
 * @param type {@code start}, {@code token} or {@code end}
 * @param text the token's text delta ({@code token}), the finish reason ({@code end})
 * @param index the token's index ({@code token}), the prompt tokens ({@code start}), the generated
 *     tokens ({@code end})
 * @param draft whether the token was an accepted MTP draft
 * @param atMs when it happened, epoch milliseconds
 */
@Serdeable
public record ConsoleEvent(
    String type,
    String requestId,
    String sessionId,
    String text,
    int index,
    boolean draft,
    long atMs) {}
