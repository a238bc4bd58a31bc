package io.latentstream.topology;

import io.latentstream.sampling.SamplingParams;
import io.latentstream.schemas.ChatInput;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenIdsInput;
import io.latentstream.tokenizer.ChatMessage;
import io.latentstream.tokenizer.Tokenizer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Checks a decoded prompt and turns its input into tokens. Every refusal names what is wrong, so
 * the publisher can fix it from the {@code generation-errors} event alone.
 */
final class PromptValidator {
  private static final Set<String> ROLES = Set.of("system", "user", "assistant");

  private final Tokenizer tokenizer;
  private final int vocabSize;
  private final int maxNewTokensLimit;

  /**
   * @param tokenizer tokenizes text and chat input; null accepts token ids only
   */
  PromptValidator(Tokenizer tokenizer, int vocabSize, int maxNewTokensLimit) {
    this.tokenizer = tokenizer;
    this.vocabSize = vocabSize;
    this.maxNewTokensLimit = maxNewTokensLimit;
  }

  /**
   * Validates {@code prompt}; {@code continuesContext} says whether its tokens follow a session's
   * history (then no BOS is added).
   */
  Turn validate(PromptRequest prompt, boolean continuesContext) throws PromptRejected {
    if (prompt.getRequestId() == null || prompt.getRequestId().isBlank()) {
      throw new PromptRejected(ErrorCode.MISSING_REQUEST_ID, "the request has no request_id");
    }
    if (prompt.getTenant() == null || prompt.getTenant().isBlank()) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "the request has no tenant");
    }
    if (prompt.getSessionId() != null && prompt.getSessionId().isBlank()) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "session_id is blank; omit it instead");
    }
    SamplingParams params = sampling(prompt);
    Object input = prompt.getInput();
    boolean chat = input instanceof ChatInput;
    int[] tokens;
    if (input instanceof TextInput text) {
      tokens = text(text.getText(), continuesContext);
    } else if (input instanceof ChatInput messages) {
      tokens = chat(messages, continuesContext);
    } else if (input instanceof TokenIdsInput ids) {
      tokens = ids(ids.getTokenIds());
    } else {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the request has no input");
    }
    return new Turn(tokens, params, prompt.getAllowMtpDrafting(), chat);
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
    if (maxNewTokens <= 0 || maxNewTokens > maxNewTokensLimit) {
      throw new PromptRejected(
          ErrorCode.INVALID_MAX_NEW_TOKENS,
          "max_new_tokens must be in [1, " + maxNewTokensLimit + "], got " + maxNewTokens);
    }
    List<String> stop = sampling.getStop();
    if (stop.stream().anyMatch(String::isEmpty)) {
      throw new PromptRejected(ErrorCode.INVALID_REQUEST, "stop strings must not be empty");
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

  private int[] text(String text, boolean continuesContext) throws PromptRejected {
    if (text.isEmpty()) {
      throw new PromptRejected(ErrorCode.EMPTY_INPUT, "the text input is empty");
    }
    requireTokenizer("text");
    return tokenizer.encode(text, !continuesContext);
  }

  private int[] chat(ChatInput input, boolean continuesContext) throws PromptRejected {
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
    int[] tokens = tokenizer.encodeChat(messages, true);
    // The template starts every rendering with BOS; a later turn continues the conversation.
    Integer bos = tokenizer.bosId();
    if (continuesContext && bos != null && tokens.length > 0 && tokens[0] == bos) {
      tokens = Arrays.copyOfRange(tokens, 1, tokens.length);
    }
    return tokens;
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
