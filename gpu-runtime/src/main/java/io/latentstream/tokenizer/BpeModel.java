package io.latentstream.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The byte-pair-encoding model: a word starts as one symbol per character and the adjacent pair
 * with the lowest merge rank is merged, leftmost first among equal ranks, until no pair of the word
 * has a merge. This is the order of Hugging Face's {@code Word::merge_all} (a priority queue of
 * (rank, position), stale entries skipped), which this class follows with primitive arrays.
 *
 * <p>Thread-safe; words seen before come from a bounded cache, as in the Rust implementation.
 */
public final class BpeModel {
  private static final int CACHE_CAPACITY = 100_000;
  private static final int CACHEABLE_WORD_LENGTH = 256;

  private final Map<String, Integer> vocab;
  private final String[] idToToken;
  private final int[] bmpCharToId;
  private final PairTable merges;
  private final int[] mergedByRank;
  private final Integer unkId;
  private final boolean fuseUnk;
  private final boolean ignoreMerges;
  private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

  /**
   * @param vocab token to id
   * @param merges the merge rules in rank order, each a pair of tokens
   * @param unkToken the token for characters outside the vocabulary, or null to drop them
   * @param ignoreMerges whether a word found whole in the vocabulary is taken as it is
   */
  BpeModel(
      Map<String, Integer> vocab,
      List<String[]> merges,
      String unkToken,
      boolean fuseUnk,
      boolean ignoreMerges) {
    this.vocab = Map.copyOf(vocab);
    int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
    this.idToToken = new String[maxId + 1];
    this.bmpCharToId = new int[Character.MAX_VALUE + 1];
    Arrays.fill(bmpCharToId, -1);
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      idToToken[e.getValue()] = e.getKey();
      String token = e.getKey();
      if (token.length() == 1) {
        bmpCharToId[token.charAt(0)] = e.getValue();
      }
    }
    this.merges = new PairTable(merges.size() * 2);
    this.mergedByRank = new int[merges.size()];
    for (int rank = 0; rank < merges.size(); rank++) {
      String[] pair = merges.get(rank);
      Integer left = vocab.get(pair[0]);
      Integer right = vocab.get(pair[1]);
      Integer merged = vocab.get(pair[0] + pair[1]);
      if (left == null || right == null || merged == null) {
        throw new IllegalArgumentException(
            "merge '"
                + pair[0]
                + " "
                + pair[1]
                + "' (rank "
                + rank
                + ") uses a token not in vocab");
      }
      this.merges.put(left, right, rank, merged);
      mergedByRank[rank] = merged;
    }
    if (unkToken != null && !vocab.containsKey(unkToken)) {
      throw new IllegalArgumentException("unk_token " + unkToken + " is not in the vocabulary");
    }
    this.unkId = unkToken == null ? null : vocab.get(unkToken);
    this.fuseUnk = fuseUnk;
    this.ignoreMerges = ignoreMerges;
  }

  /** The number of ids the vocabulary spans (the highest id plus one). */
  public int vocabSize() {
    return idToToken.length;
  }

  /** The id of {@code token}, or null. */
  public Integer tokenToId(String token) {
    return vocab.get(token);
  }

  /** The token of {@code id}, or null. */
  public String idToToken(int id) {
    return id >= 0 && id < idToToken.length ? idToToken[id] : null;
  }

  /** The ids of one pre-tokenized word. The returned array must not be modified. */
  int[] encodeWord(String word) {
    int[] cached = cache.get(word);
    if (cached != null) {
      return cached;
    }
    int[] ids = merge(word);
    if (word.length() < CACHEABLE_WORD_LENGTH && cache.size() < CACHE_CAPACITY) {
      cache.put(word, ids);
    }
    return ids;
  }

  private int[] merge(String word) {
    if (ignoreMerges) {
      Integer whole = vocab.get(word);
      if (whole != null) {
        return new int[] {whole};
      }
    }
    // The initial symbols: one per character, as a doubly linked list over array slots.
    int n = word.length();
    int[] id = new int[n];
    int count = 0;
    boolean previousWasUnk = false;
    for (int i = 0; i < n; ) {
      int cp = word.codePointAt(i);
      int width = Character.charCount(cp);
      int tokenId = width == 1 ? bmpCharToId[cp] : lookup(word.substring(i, i + width));
      i += width;
      if (tokenId >= 0) {
        id[count++] = tokenId;
        previousWasUnk = false;
      } else if (unkId != null) {
        if (!(fuseUnk && previousWasUnk)) {
          id[count++] = unkId;
        }
        previousWasUnk = true;
      }
    }
    if (count < 2) {
      return Arrays.copyOf(id, count);
    }
    int[] prev = new int[count];
    int[] next = new int[count];
    boolean[] removed = new boolean[count];
    for (int i = 0; i < count; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < count ? i + 1 : -1;
    }
    // Min-heap of (rank << 32 | position): lowest rank first, then leftmost.
    long[] heap = new long[count * 2];
    int heapSize = 0;
    for (int i = 0; i + 1 < count; i++) {
      long rank = merges.rank(id[i], id[i + 1]);
      if (rank >= 0) {
        heapSize = push(heap, heapSize, rank << 32 | i);
      }
    }
    int symbols = count;
    while (heapSize > 0) {
      long top = heap[0];
      heapSize = pop(heap, heapSize);
      int pos = (int) top;
      int rank = (int) (top >>> 32);
      int right = next[pos];
      // Skip stale entries: a side was merged away since the pair was queued. Like the Rust
      // code, an entry counts as current when the pair now there merges into the same token.
      if (removed[pos] || right < 0 || merges.rank(id[pos], id[right]) < 0) {
        continue;
      }
      if (merges.merged(id[pos], id[right]) != mergedByRank[rank]) {
        continue;
      }
      id[pos] = mergedByRank[rank];
      removed[right] = true;
      symbols--;
      int after = next[right];
      next[pos] = after;
      if (after >= 0) {
        prev[after] = pos;
        long r = merges.rank(id[pos], id[after]);
        if (r >= 0) {
          if (heapSize == heap.length) {
            heap = Arrays.copyOf(heap, heap.length * 2);
          }
          heapSize = push(heap, heapSize, r << 32 | pos);
        }
      }
      int before = prev[pos];
      if (before >= 0) {
        long r = merges.rank(id[before], id[pos]);
        if (r >= 0) {
          if (heapSize == heap.length) {
            heap = Arrays.copyOf(heap, heap.length * 2);
          }
          heapSize = push(heap, heapSize, r << 32 | before);
        }
      }
    }
    int[] result = new int[symbols];
    for (int i = 0, k = 0; i >= 0; i = next[i]) {
      result[k++] = id[i];
    }
    return result;
  }

  private int lookup(String character) {
    Integer tokenId = vocab.get(character);
    return tokenId == null ? -1 : tokenId;
  }

  private static int push(long[] heap, int size, long value) {
    int i = size;
    heap[i] = value;
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (heap[parent] <= heap[i]) {
        break;
      }
      long t = heap[parent];
      heap[parent] = heap[i];
      heap[i] = t;
      i = parent;
    }
    return size + 1;
  }

  private static int pop(long[] heap, int size) {
    int last = size - 1;
    heap[0] = heap[last];
    int i = 0;
    while (true) {
      int left = 2 * i + 1;
      if (left >= last) {
        break;
      }
      int smallest = left + 1 < last && heap[left + 1] < heap[left] ? left + 1 : left;
      if (heap[i] <= heap[smallest]) {
        break;
      }
      long t = heap[i];
      heap[i] = heap[smallest];
      heap[smallest] = t;
      i = smallest;
    }
    return last;
  }

  /** Open-addressing map from a pair of ids to (rank, merged id), both packed in one long. */
  private static final class PairTable {
    private final long[] keys;
    private final long[] values;
    private final int mask;

    PairTable(int expected) {
      int capacity = Integer.highestOneBit(Math.max(4, expected) * 2);
      keys = new long[capacity];
      values = new long[capacity];
      Arrays.fill(keys, -1L);
      mask = capacity - 1;
    }

    void put(int left, int right, int rank, int merged) {
      long key = key(left, right);
      int slot = slot(key);
      while (keys[slot] != -1L && keys[slot] != key) {
        slot = (slot + 1) & mask;
      }
      keys[slot] = key; // a repeated pair keeps its last rank, as a Rust HashMap insert does
      values[slot] = (long) rank << 32 | (merged & 0xFFFFFFFFL);
    }

    /** The rank of merging {@code left} and {@code right}, or -1. */
    long rank(int left, int right) {
      long v = find(left, right);
      return v < 0 ? -1 : v >>> 32;
    }

    int merged(int left, int right) {
      return (int) find(left, right);
    }

    private long find(int left, int right) {
      long key = key(left, right);
      int slot = slot(key);
      while (true) {
        long k = keys[slot];
        if (k == key) {
          return values[slot];
        }
        if (k == -1L) {
          return -1L;
        }
        slot = (slot + 1) & mask;
      }
    }

    private static long key(int left, int right) {
      return (long) left << 32 | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
      long h = key * 0x9E3779B97F4A7C15L;
      return (int) (h >>> 32) & mask;
    }
  }
}
