package io.latentstream.tokenizer;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The DeepSeek-V3 chat template of {@code tokenizer_config.json}, implemented in Java rather than
 * evaluated by a Jinja engine: it is one fixed template, its semantics are a page of code, and
 * gpu-runtime stays free of a template engine's dependencies. The implementation is tested against
 * renderings of the real template by Python's jinja2 (see {@code ChatTemplateTest}), and a
 * configuration whose template is not this exact one is refused rather than rendered wrongly.
 *
 * <p>The format: BOS once, then the system prompts joined by blank lines, then per message {@code
 * <｜User｜>text}, {@code <｜Assistant｜>text<｜end▁of▁sentence｜>}, tool calls and tool outputs in their
 * own markers, and {@code <｜Assistant｜>} at the end as the generation prompt.
 */
public final class ChatTemplate {
  /** SHA-256 of the DeepSeek-V3 {@code chat_template} string this class implements. */
  static final String DEEPSEEK_V3_TEMPLATE_SHA256 =
      "3b8267e54b67df6500f231ffa969955cc9d26b3444a291ced4eb96ca7d3ca1ea";

  private static final String USER = "<｜User｜>";
  private static final String ASSISTANT = "<｜Assistant｜>";
  private static final String END_OF_SENTENCE = "<｜end▁of▁sentence｜>";
  private static final String TOOL_CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
  private static final String TOOL_CALLS_END = "<｜tool▁calls▁end｜>";
  private static final String TOOL_CALL_BEGIN = "<｜tool▁call▁begin｜>";
  private static final String TOOL_CALL_END = "<｜tool▁call▁end｜>";
  private static final String TOOL_SEP = "<｜tool▁sep｜>";
  private static final String TOOL_OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>";
  private static final String TOOL_OUTPUTS_END = "<｜tool▁outputs▁end｜>";
  private static final String TOOL_OUTPUT_BEGIN = "<｜tool▁output▁begin｜>";
  private static final String TOOL_OUTPUT_END = "<｜tool▁output▁end｜>";

  private final String bosToken;

  private ChatTemplate(String bosToken) {
    this.bosToken = bosToken;
  }

  /**
   * The template of {@code config}.
   *
   * @throws IllegalArgumentException if the configuration has no chat template, or one other than
   *     DeepSeek-V3's
   */
  public static ChatTemplate of(TokenizerConfig config) {
    if (config.chatTemplate() == null) {
      throw new IllegalArgumentException("tokenizer_config.json has no chat_template");
    }
    String digest = sha256(config.chatTemplate());
    if (!digest.equals(DEEPSEEK_V3_TEMPLATE_SHA256)) {
      throw new IllegalArgumentException(
          "unsupported chat_template (sha256 "
              + digest
              + "): only DeepSeek-V3's template is implemented");
    }
    return new ChatTemplate(config.bosToken() == null ? "" : config.bosToken());
  }

  /**
   * Renders {@code messages} as the template does; with {@code addGenerationPrompt}, ends with the
   * assistant marker unless the conversation ends in tool output.
   */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    // The template's namespace variables, under their names there.
    boolean isFirst = false;
    boolean isTool = false;
    boolean isOutputFirst = true;
    boolean isFirstSp = true;
    StringBuilder systemPrompt = new StringBuilder();
    for (ChatMessage m : messages) {
      if (m.role().equals("system")) {
        if (!isFirstSp) {
          systemPrompt.append("\n\n");
        }
        systemPrompt.append(required(m));
        isFirstSp = false;
      }
    }
    StringBuilder out = new StringBuilder(bosToken).append(systemPrompt);
    for (ChatMessage m : messages) {
      switch (m.role()) {
        case "user" -> {
          isTool = false;
          out.append(USER).append(required(m));
        }
        case "assistant" -> {
          if (m.content() == null) {
            isTool = false;
            for (ChatMessage.ToolCall call : m.toolCalls()) {
              // As written in the template: only the first call of the whole conversation opens
              // the block, and every later call closes it (is_first is never reset).
              if (!isFirst) {
                out.append(ASSISTANT).append(TOOL_CALLS_BEGIN);
                appendToolCall(out, call);
                isFirst = true;
              } else {
                out.append('\n');
                appendToolCall(out, call);
                out.append(TOOL_CALLS_END).append(END_OF_SENTENCE);
              }
            }
          } else if (isTool) {
            out.append(TOOL_OUTPUTS_END).append(m.content()).append(END_OF_SENTENCE);
            isTool = false;
          } else {
            out.append(ASSISTANT).append(m.content()).append(END_OF_SENTENCE);
          }
        }
        case "tool" -> {
          isTool = true;
          if (isOutputFirst) {
            out.append(TOOL_OUTPUTS_BEGIN);
            isOutputFirst = false;
          } else {
            out.append('\n');
          }
          out.append(TOOL_OUTPUT_BEGIN).append(required(m)).append(TOOL_OUTPUT_END);
        }
        case "system" -> {} // already gathered into the system prompt
        default -> {} // the template ignores other roles
      }
    }
    if (isTool) {
      out.append(TOOL_OUTPUTS_END);
    }
    if (addGenerationPrompt && !isTool) {
      out.append(ASSISTANT);
    }
    return out.toString();
  }

  private static void appendToolCall(StringBuilder out, ChatMessage.ToolCall call) {
    out.append(TOOL_CALL_BEGIN)
        .append(call.type())
        .append(TOOL_SEP)
        .append(call.name())
        .append("\n```json\n")
        .append(call.arguments())
        .append("\n```")
        .append(TOOL_CALL_END);
  }

  /** Jinja fails on {@code '...' + none}; so does this. */
  private static String required(ChatMessage m) {
    if (m.content() == null) {
      throw new IllegalArgumentException("a " + m.role() + " message needs content");
    }
    return m.content();
  }

  private static String sha256(String text) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      return HexFormat.of().formatHex(sha.digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
