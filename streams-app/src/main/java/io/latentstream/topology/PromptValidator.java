package io.latentstream.topology;

import io.latentstream.model.ModelConfig;
import io.latentstream.sampling.SamplingParams;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.schemas.TokenIdsInput;
import io.latentstream.serving.ServedModel;
import io.latentstream.tokenizer.ChatMessage;
import io.latentstream.tokenizer.Tokenizer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks a decoded prompt and turns its input into tokens. Every refusal names what is wrong, so
 * the publisher can fix it from the {@code generation-errors} event alone. Sizes are checked before
 * any work that grows with them: ids, stop strings and metadata against {@link PromptLimits}, and
 * the input's bytes before it is tokenized, against the limit and against the model's context (a
 * token stands for at most {@link Tokenizer#maxTokenBytes} bytes, so a text longer than the context
 * times that cannot fit, whatever its tokens).
 */
public final class PromptValidator {
  private static final Set<String> ROLES = Set.of("system", "user", "assistant");

  private final Tokenizer tokenizer;
  private final int vocabSize;
  private final int contextTokens;
  private final PromptLimits limits;
  private final TokenEventForm tokenEvents;

  /**
   * @param tokenizer tokenizes text and chat input; null accepts token ids only
   * @param contextTokens the model's context (max_position_embeddings)
   * @param tokenEvents the deployment's form of token events, for prompts that choose none
   */
  public PromptValidator(
      Tokenizer tokenizer,
      int vocabSize,
      int contextTokens,
      PromptLimits limits,
      TokenEventForm tokenEvents) {
    this.tokenizer = tokenizer;
    this.vocabSize = vocabSize;
    this.contextTokens = contextTokens;
    this.limits = limits;
    this.tokenEvents = tokenEvents;
  }

  /**
   * The validator of prompts to {@code model}, within {@code limits}, whose token events take the
   * form {@code tokenEvents} unless a prompt chooses one.
   */
  public static PromptValidator of(
      ServedModel model, PromptLimits limits, TokenEventForm tokenEvents) {
    ModelConfig config = model.engine().config();
    return new PromptValidator(
        model.tokenizer(), config.vocabSize(), config.maxPositionEmbeddings(), limits, tokenEvents);
  }

  /**
   * Validates {@code prompt} and tokenizes its input, both as a session's first turn and as a later
   * one: whether it continues a session is for the session's state to say.
   */
  public ValidPrompt validate(PromptRequest prompt) throws PromptRejected {
    if (prompt.getRequestId() == null || prompt.getRequestId().isBlank()) {
      throw new PromptRejected(ErrorCode.MISSING_REQUEST_ID, "the request has no request_id");
    }
    checkId("request_id", prompt.getRequestId());
    if (prompt.getTenant() == null || prompt.getTenant().isBlank()) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "the request has no tenant");
    }
    checkId("tenant", prompt.getTenant());
    if (prompt.getSessionId() != null && prompt.getSessionId().isBlank()) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "session_id is blank; omit it instead");
    }
    if (prompt.getSessionId() != null) {
      checkId("session_id", prompt.getSessionId());
    }
    checkMetadata(prompt.getMetadata());
    SamplingParams params = sampling(prompt);
    Object input = prompt.getInput();
    checkInputBytes(input);
    boolean chat = input instanceof ChatInput;
    boolean mtp = prompt.getAllowMtpDrafting();
    int[] later;
    int[] first;
    if (input instanceof TextInput text) {
      later = text(text.getText());
      first = tokenizer.addSpecialTokens(later);
    } else if (input instanceof ChatInput messages) {
      first = chat(messages);
      // The template starts every rendering with BOS; a later turn continues the conversation.
      Integer bos = tokenizer.bosId();
      boolean opens = bos != null && first.length > 0 && first[0] == bos;
      later = opens ? Arrays.copyOfRange(first, 1, first.length) : first;
    } else if (input instanceof TokenIdsInput ids) {
      first = later = ids(ids.getTokenIds());
    } else {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the request has no input");
    }
    return new ValidPrompt(
        prompt,
        new Turn(first, params, mtp, chat),
        new Turn(later, params, mtp, chat),
        prompt.getTokenEvents() != null ? prompt.getTokenEvents() : tokenEvents);
  }

  private SamplingParams sampling(PromptRequest prompt) throws PromptRejected {
    var sampling = prompt.getSampling();
    double temperature = sampling.getTemperature();
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new PromptRejected(
          ErrorCode.INVALID_TEMPERATURE,
          "temperature must be a finite number >= 0, got " + temperature);
    }
    double topP = sampling.getTopP();
    if (!(topP > 0 && topP <= 1)) {
      throw new PromptRejected(ErrorCode.INVALID_TOP_P, "top_p must be in (0, 1], got " + topP);
    }
    if (sampling.getTopK() < 0) {
      throw new PromptRejected(
          ErrorCode.INVALID_TOP_K, "top_k must be >= 0 (0 disables it), got " + sampling.getTopK());
    }
    int maxNewTokens = sampling.getMaxNewTokens();
    if (maxNewTokens <= 0 || maxNewTokens > limits.maxNewTokens()) {
      throw new PromptRejected(
          ErrorCode.INVALID_MAX_NEW_TOKENS,
          "max_new_tokens must be in [1, " + limits.maxNewTokens() + "], got " + maxNewTokens);
    }
    List<String> stop = sampling.getStop();
    if (stop.size() > limits.maxStopStrings()) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          stop.size() + " stop strings; the limit is " + limits.maxStopStrings());
    }
    if (stop.stream().anyMatch(String::isEmpty)) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "stop strings must not be empty");
    }
    for (String s : stop) {
      if (utf8Length(s) > limits.maxStopBytes()) {
        throw new PromptRejected(
            ErrorCode.INVALID_REQUEST,
            "a stop string of " + utf8Length(s) + " bytes; the limit is " + limits.maxStopBytes());
      }
    }
    if (!stop.isEmpty() && tokenizer == null) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST, "stop strings need a model with a tokenizer");
    }
    long seed = sampling.getSeed() != null ? sampling.getSeed() : seedOf(prompt.getRequestId());
    return new SamplingParams(temperature, topP, sampling.getTopK(), seed, maxNewTokens, stop);
  }

  /**
   * The seed of a request that brings none: derived from its id, so that replaying the prompt log
   * draws the same tokens (and recorded on every event it produces).
   */
  static long seedOf(String requestId) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(requestId.getBytes(StandardCharsets.UTF_8));
      return ByteBuffer.wrap(digest).getLong();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime provides SHA-256", e);
    }
  }

  /**
   * Where tenants have topics of their own, a prompt's tenant is the topic's ({@code topicTenant}):
   * its tenant field must name it, else the prompt claims another tenant's requests and sessions.
   * Where they have none ({@code topicTenant} null), the field names the tenant.
   */
  public static void checkTenant(PromptRequest prompt, String topicTenant) throws PromptRejected {
    if (topicTenant != null && !topicTenant.equals(prompt.getTenant())) {
      throw new PromptRejected(
          ErrorCode.TENANT_MISMATCH,
          "the request came from the prompts topic of tenant "
              + topicTenant
              + " but its tenant field names another; a tenant's prompts name their own tenant");
    }
  }

  private void checkId(String field, String value) throws PromptRejected {
    long bytes = utf8Length(value);
    if (bytes > limits.maxIdBytes()) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          field + " of " + bytes + " bytes; the limit is " + limits.maxIdBytes());
    }
  }

  private void checkMetadata(Map<String, String> metadata) throws PromptRejected {
    if (metadata.size() > limits.maxMetadataEntries()) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          metadata.size() + " metadata entries; the limit is " + limits.maxMetadataEntries());
    }
    long bytes = 0;
    for (Map.Entry<String, String> e : metadata.entrySet()) {
      bytes += utf8Length(e.getKey()) + utf8Length(e.getValue());
    }
    if (bytes > limits.maxMetadataBytes()) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          "metadata of " + bytes + " bytes; the limit is " + limits.maxMetadataBytes());
    }
  }

  /**
   * Refuses an input whose bytes exceed the limit, or that needs more tokens than the model's
   * context holds, before it is tokenized.
   */
  private void checkInputBytes(Object input) throws PromptRejected {
    long bytes = 0;
    if (input instanceof TextInput text) {
      bytes = utf8Length(text.getText());
    } else if (input instanceof ChatInput chat) {
      for (var message : chat.getMessages()) {
        bytes += utf8Length(message.getRole()) + utf8Length(message.getContent());
      }
    }
    if (bytes > limits.maxInputBytes()) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          "an input of " + bytes + " bytes; the limit is " + limits.maxInputBytes());
    }
    if (tokenizer != null) {
      long fewestTokens = (bytes + tokenizer.maxTokenBytes() - 1) / tokenizer.maxTokenBytes();
      if (fewestTokens > contextTokens) {
        throw new PromptRejected(
            ErrorCode.CONTEXT_OVERFLOW,
            "an input of "
                + bytes
                + " bytes is at least "
                + fewestTokens
                + " tokens (a token stands for at most "
                + tokenizer.maxTokenBytes()
                + " bytes); the model's context is "
                + contextTokens);
      }
    }
  }

  /** UTF-8 bytes of s (strings here come from strictly validated UTF-8, so no lone surrogates). */
  static long utf8Length(CharSequence s) {
    long bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c)) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }

  private int[] text(String text) throws PromptRejected {
    if (text.isEmpty()) {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the text input is empty");
    }
    requireTokenizer("text");
    return tokenizer.encode(text, false);
  }

  private int[] chat(ChatInput input) throws PromptRejected {
    if (input.getMessages().isEmpty()) {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the chat input has no messages");
    }
    requireTokenizer("chat");
    List<ChatMessage> messages = new ArrayList<>();
    for (var message : input.getMessages()) {
      if (!ROLES.contains(message.getRole())) {
        throw new PromptRejected(
            ErrorCode.INVALID_REQUEST,
            "chat role '" + message.getRole() + "' is not one of system, user, assistant");
      }
      messages.add(new ChatMessage(message.getRole(), message.getContent(), List.of()));
    }
    return tokenizer.encodeChat(messages, true);
  }

  private int[] ids(List<Integer> ids) throws PromptRejected {
    if (ids.isEmpty()) {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the token_ids input is empty");
    }
    int[] tokens = new int[ids.size()];
    for (int i = 0; i < tokens.length; i++) {
      int id = ids.get(i);
      if (id < 0 || id >= vocabSize) {
        throw new PromptRejected(
            ErrorCode.TOKEN_ID_OUT_OF_VOCAB,
            "token id "
                + id
                + " at position "
                + i
                + " is outside the vocabulary [0, "
                + vocabSize
                + ")");
      }
      tokens[i] = id;
    }
    return tokens;
  }

  private void requireTokenizer(String kind) throws PromptRejected {
    if (tokenizer == null) {
      throw new PromptRejected(
          ErrorCode.INVALID_REQUEST,
          kind + " input needs a model with a tokenizer; send token_ids");
    }
  }
}
