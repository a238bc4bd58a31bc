package io.latentstream.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Hugging Face byte-level BPE tokenizer of the DeepSeek family, read from a model directory
 * ({@code tokenizer.json}, and {@code tokenizer_config.json} if present), giving the ids the
 * reference Rust implementation gives.
 *
 * <p>Encoding: added tokens are cut out of the text first, the text between them is pre-tokenized
 * into words, and the BPE model encodes each word. Decoding maps tokens back to bytes and bytes to
 * UTF-8 text. Immutable and thread-safe.
 */
public final class Tokenizer {
  private final BpeModel model;
  private final AddedTokens addedTokens;
  private final PreTokenizer preTokenizer;
  private final TokenizerConfig config;
  private final int vocabSize;
  private final int maxTokenBytes;
  private volatile ChatTemplate chatTemplate;

  private Tokenizer(TokenizerJson.Components components, TokenizerConfig config) {
    this.model = components.model();
    this.addedTokens = components.addedTokens();
    this.preTokenizer = components.preTokenizer();
    this.config = config;
    int size = model.vocabSize();
    for (AddedToken t : addedTokens.all()) {
      size = Math.max(size, t.id() + 1);
    }
    this.vocabSize = size;
    int longest = 1;
    for (int id = 0; id < model.vocabSize(); id++) {
      String token = model.idToToken(id);
      if (token != null) {
        longest = Math.max(longest, token.length()); // byte-level: one character per byte
      }
    }
    for (AddedToken t : addedTokens.all()) {
      longest =
          Math.max(longest, t.content().getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
    }
    this.maxTokenBytes = longest;
  }

  /**
   * The most bytes of text one token stands for: a text of n bytes encodes to at least n divided by
   * this many tokens (byte-level BPE covers every byte of its input, each token a run of bytes,
   * each added token its content), so a prompt can be refused for its length before it is
   * tokenized.
   */
  public int maxTokenBytes() {
    return maxTokenBytes;
  }

  /**
   * Loads the tokenizer of a model directory.
   *
   * @throws UncheckedIOException if a file cannot be read
   * @throws IllegalArgumentException if {@code tokenizer.json} uses a component this class does not
   *     implement (the message names it)
   */
  public static Tokenizer load(Path directory) {
    Path json = directory.resolve("tokenizer.json");
    Path configJson = directory.resolve("tokenizer_config.json");
    try {
      if (!Files.isRegularFile(json)) {
        throw new IllegalArgumentException("no tokenizer.json in " + directory);
      }
      TokenizerConfig config =
          Files.isRegularFile(configJson) ? TokenizerConfig.read(configJson) : TokenizerConfig.NONE;
      return new Tokenizer(TokenizerJson.read(json), config);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the tokenizer in " + directory, e);
    }
  }

  public TokenizerConfig config() {
    return config;
  }

  public AddedTokens addedTokens() {
    return addedTokens;
  }

  public PreTokenizer preTokenizer() {
    return preTokenizer;
  }

  /** The number of ids with a token: the model's vocabulary and the added tokens. */
  public int vocabSize() {
    return vocabSize;
  }

  /** The id of a token (added tokens first, as Hugging Face looks them up), or null. */
  public Integer tokenToId(String token) {
    AddedToken added = addedTokens.byContent(token);
    return added != null ? Integer.valueOf(added.id()) : model.tokenToId(token);
  }

  /** The token of an id, or null if no token has it. */
  public String idToToken(int id) {
    AddedToken added = addedTokens.byId(id);
    return added != null ? added.content() : model.idToToken(id);
  }

  /** The BOS id from {@code tokenizer_config.json}, or null. */
  public Integer bosId() {
    return config.bosToken() == null ? null : tokenToId(config.bosToken());
  }

  /** The EOS id from {@code tokenizer_config.json}, or null. */
  public Integer eosId() {
    return config.eosToken() == null ? null : tokenToId(config.eosToken());
  }

  /** Encodes {@code text} as is, without adding special tokens (added tokens in it are found). */
  public int[] encode(String text) {
    return encode(text, false);
  }

  /**
   * Encodes {@code text}; with {@code addSpecialTokens}, BOS first and EOS last as {@code
   * add_bos_token} and {@code add_eos_token} of {@code tokenizer_config.json} say (what Python's
   * {@code tokenizer.encode(text)} does for DeepSeek-V3: BOS only).
   */
  public int[] encode(String text, boolean addSpecialTokens) {
    text = replaceLoneSurrogates(text);
    IntList ids = new IntList(text.length() / 3 + 4);
    List<String> words = new ArrayList<>();
    for (AddedTokens.Segment segment : addedTokens.split(text)) {
      if (segment.isToken()) {
        ids.add(segment.id());
        continue;
      }
      words.clear();
      preTokenizer.preTokenize(segment.text(), words);
      for (String word : words) {
        ids.addAll(model.encodeWord(word));
      }
    }
    return addSpecialTokens ? addSpecialTokens(ids.toArray()) : ids.toArray();
  }

  /**
   * {@code ids} as {@link #encode(String, boolean)} frames a text with its special tokens: what a
   * text's tokens are as a context of their own, rather than continuing one.
   */
  public int[] addSpecialTokens(int[] ids) {
    Integer bos = config.addBosToken() ? bosId() : null;
    Integer eos = config.addEosToken() ? eosId() : null;
    int start = bos == null ? 0 : 1;
    int[] framed = new int[start + ids.length + (eos == null ? 0 : 1)];
    System.arraycopy(ids, 0, framed, start, ids.length);
    if (bos != null) {
      framed[0] = bos;
    }
    if (eos != null) {
      framed[framed.length - 1] = eos;
    }
    return framed;
  }

  /**
   * A Java string may hold a lone surrogate, which is not Unicode and cannot reach the Rust
   * reference; it becomes U+FFFD, as Rust's {@code String::from_utf16_lossy} would make it (Java's
   * UTF-8 encoder would silently write '?').
   */
  static String replaceLoneSurrogates(String text) {
    StringBuilder fixed = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (!Character.isSurrogate(c)) {
        continue;
      }
      boolean paired =
          Character.isHighSurrogate(c)
              && i + 1 < text.length()
              && Character.isLowSurrogate(text.charAt(i + 1));
      if (paired) {
        i++;
        continue;
      }
      if (fixed == null) {
        fixed = new StringBuilder(text);
      }
      fixed.setCharAt(i, Utf8.REPLACEMENT);
    }
    return fixed == null ? text : fixed.toString();
  }

  /**
   * The chat template of {@code tokenizer_config.json}.
   *
   * @throws IllegalArgumentException if there is none, or not DeepSeek-V3's
   */
  public ChatTemplate chatTemplate() {
    ChatTemplate template = chatTemplate;
    if (template == null) {
      template = ChatTemplate.of(config);
      chatTemplate = template;
    }
    return template;
  }

  /**
   * Encodes a conversation as the chat template renders it. The template writes BOS itself, so no
   * special tokens are added on top (as {@code apply_chat_template(tokenize=True)} does).
   */
  public int[] encodeChat(List<ChatMessage> messages, boolean addGenerationPrompt) {
    return encode(chatTemplate().render(messages, addGenerationPrompt), false);
  }

  /** Decodes ids to text, special tokens included. */
  public String decode(int[] ids) {
    return decode(ids, false);
  }

  /**
   * Decodes ids to text. Ids without a token are dropped, as in the Rust implementation; bytes that
   * do not form UTF-8 become U+FFFD. As in Hugging Face's {@code decode}, the bytes of each run of
   * model tokens are decoded together, and added tokens are copied as their text.
   */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    StringBuilder text = new StringBuilder(ids.length * 4);
    ByteSink run = new ByteSink();
    for (int id : ids) {
      AddedToken added = addedTokens.byId(id);
      if (added != null) {
        if (!(skipSpecialTokens && added.special())) {
          text.append(Utf8.decodeLossy(run.array(), run.length())).append(added.content());
          run.clear();
        }
      } else if (model.idToToken(id) != null) {
        ByteLevel.appendBytes(model.idToToken(id), run);
      }
    }
    return text.append(Utf8.decodeLossy(run.array(), run.length())).toString();
  }

  /** A decoder for a stream of ids, one at a time. */
  public IncrementalDetokenizer newIncrementalDetokenizer(boolean skipSpecialTokens) {
    return new IncrementalDetokenizer(this, skipSpecialTokens);
  }

  /** The added token of {@code id}, or null. */
  AddedToken addedToken(int id) {
    return addedTokens.byId(id);
  }

  /** The model's (byte-level) token of {@code id}, or null. */
  String modelToken(int id) {
    return model.idToToken(id);
  }

  /** A growable int array, to build id sequences without boxing. */
  private static final class IntList {
    private int[] values;
    private int size;

    IntList(int capacity) {
      values = new int[Math.max(capacity, 8)];
    }

    void add(int value) {
      if (size == values.length) {
        values = Arrays.copyOf(values, size * 2);
      }
      values[size++] = value;
    }

    void addAll(int[] more) {
      if (size + more.length > values.length) {
        values = Arrays.copyOf(values, Math.max(size * 2, size + more.length));
      }
      System.arraycopy(more, 0, values, size, more.length);
      size += more.length;
    }

    int[] toArray() {
      return Arrays.copyOf(values, size);
    }
  }
}
