package io.latentstream.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * One message of a conversation, as a chat template reads it.
 *
 * @param role {@code system}, {@code user}, {@code assistant} or {@code tool}
 * @param content the text; null only for an assistant message that makes tool calls
 * @param toolCalls the calls of an assistant message without content, else empty
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls) {
  /** A function call requested by the assistant. */
  public record ToolCall(String type, String name, String arguments) {}

  public ChatMessage {
    Objects.requireNonNull(role, "role");
    toolCalls = List.copyOf(toolCalls);
  }

  public static ChatMessage system(String content) {
    return new ChatMessage("system", content, List.of());
  }

  public static ChatMessage user(String content) {
    return new ChatMessage("user", content, List.of());
  }

  public static ChatMessage assistant(String content) {
    return new ChatMessage("assistant", content, List.of());
  }

  public static ChatMessage tool(String content) {
    return new ChatMessage("tool", content, List.of());
  }
}
