package io.latentstream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The hand-written template against renderings of the real Jinja template by jinja2, made by {@code
 * src/test/python/render_chat_template.py} (the file records the template's digest).
 */
class ChatTemplateTest {
  private static Tokenizer tokenizer;
  private static JsonNode renderings;

  @BeforeAll
  static void load() throws IOException {
    tokenizer = SharedTokenizers.deepseekV3();
    try (InputStream in =
        ChatTemplateTest.class.getResourceAsStream("chat-template-renderings.json")) {
      renderings = new ObjectMapper().readTree(in);
    }
  }

  @Test
  void renderingsWereMadeFromTheTemplateOfTheSharedConfig() {
    assertEquals(
        ChatTemplate.DEEPSEEK_V3_TEMPLATE_SHA256, renderings.path("template_sha256").asText());
    assertEquals(tokenizer.config().bosToken(), renderings.path("bos_token").asText());
  }

  @Test
  void everyConversationRendersAsJinjaRendersIt() {
    ChatTemplate template = tokenizer.chatTemplate();
    int count = 0;
    for (JsonNode kase : renderings.path("cases")) {
      String rendered =
          template.render(
              messages(kase.path("messages")), kase.path("add_generation_prompt").asBoolean());
      assertEquals(
          kase.path("rendered").asText(),
          rendered,
          kase.path("name").asText()
              + ", add_generation_prompt "
              + kase.path("add_generation_prompt"));
      count++;
    }
    assertTrue(count >= 20, "renderings present: " + count);
  }

  @Test
  void chatEncodingStartsWithOneBosAndUsesTheRoleTokens() {
    List<ChatMessage> conversation =
        List.of(
            ChatMessage.system("Be brief."),
            ChatMessage.user("Hi"),
            ChatMessage.assistant("Hello!"),
            ChatMessage.user("Bye"));
    int[] ids = tokenizer.encodeChat(conversation, true);
    String rendered = tokenizer.chatTemplate().render(conversation, true);
    assertArrayEquals(tokenizer.encode(rendered), ids);
    int bos = tokenizer.bosId();
    int user = tokenizer.tokenToId("<｜User｜>");
    int assistant = tokenizer.tokenToId("<｜Assistant｜>");
    int eos = tokenizer.tokenToId("<｜end▁of▁sentence｜>");
    assertEquals(bos, ids[0]);
    assertEquals(1, count(ids, bos), "BOS once");
    assertEquals(2, count(ids, user));
    assertEquals(2, count(ids, assistant), "one turn and the generation prompt");
    assertEquals(1, count(ids, eos), "after the assistant turn");
    assertEquals(assistant, ids[ids.length - 1]);
    assertEquals(rendered, tokenizer.decode(ids));
  }

  @Test
  void aDifferentTemplateIsRefused() {
    TokenizerConfig other =
        new TokenizerConfig(true, false, "<s>", "</s>", "{{ bos_token }}{{ messages }}");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.of(other));
    assertTrue(e.getMessage().contains("unsupported chat_template"), e.getMessage());
  }

  @Test
  void aUserMessageWithoutContentFailsAsInJinja() {
    ChatMessage empty = new ChatMessage("user", null, List.of());
    assertThrows(
        IllegalArgumentException.class,
        () -> tokenizer.chatTemplate().render(List.of(empty), false));
  }

  private static List<ChatMessage> messages(JsonNode node) {
    List<ChatMessage> messages = new ArrayList<>();
    for (JsonNode m : node) {
      List<ChatMessage.ToolCall> calls = new ArrayList<>();
      for (JsonNode call : m.path("tool_calls")) {
        calls.add(
            new ChatMessage.ToolCall(
                call.path("type").asText(),
                call.path("function").path("name").asText(),
                call.path("function").path("arguments").asText()));
      }
      JsonNode content = m.get("content");
      messages.add(
          new ChatMessage(
              m.path("role").asText(),
              content == null || content.isNull() ? null : content.asText(),
              calls));
    }
    return messages;
  }

  private static int count(int[] ids, int id) {
    int n = 0;
    for (int x : ids) {
      n += x == id ? 1 : 0;
    }
    return n;
  }
}
