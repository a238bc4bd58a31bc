package io.latentstream.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentstream.model.ModelConfig;
import io.latentstream.model.RandomCheckpoint;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The weight bytes of a batch-1 decode step, against a count by hand for the medium preset. */
class DecodeTrafficTest {
  private static long perToken(RandomCheckpoint.Format format) throws Exception {
    ModelConfig c = ModelConfig.parse(RandomCheckpointCommand.Preset.MEDIUM.config().toString());
    // The tensors random-checkpoint would write, sized without drawing a weight.
    Map<String, Long> stored = RandomCheckpoint.tensors(c, format, 0, Long.MAX_VALUE).tensorBytes();
    return DecodeTraffic.weightBytesPerToken(c, stored);
  }

  @Test
  void mediumBf16() throws Exception {
    // Per layer: q_a 384x1024, q_b 1536x384, kv_a 288x1024, kv_b 2048x256, o 1024x1024;
    // norms 1024 + 384 + 256 + 1024.
    long attention = 384 * 1024 + 1536 * 384 + 288 * 1024 + 2048 * 256 + 1024 * 1024;
    long norms = 1024 + 384 + 256 + 1024;
    long dense = 3L * 2816 * 1024;
    long expert = 3L * 512 * 1024;
    // 6 routed + 1 shared expert, the router 64x1024 (bf16) and its bias 64 (fp32).
    long moe = 7 * expert * 2 + 64 * 1024 * 2 + 64 * 4;
    long head = 8192L * 1024 + 1024;
    long expected = 8 * (attention + norms) * 2 + dense * 2 + 7 * moe + head * 2;
    assertEquals(234_796_800L, expected, "the hand count itself");
    assertEquals(expected, perToken(RandomCheckpoint.Format.BF16));
  }

  @Test
  void mediumFp8CountsOneByteAWeightPlusItsBlockScales() throws Exception {
    long attention = 384 * 1024 + 1536 * 384 + 288 * 1024 + 2048 * 256 + 1024 * 1024;
    // fp32 scales of 128x128 blocks: q_a 3x8, q_b 12x3, kv_a 3x8 (288 rows), kv_b 16x2, o 8x8.
    long attentionScales = 4 * (3 * 8 + 12 * 3 + 3 * 8 + 16 * 2 + 8 * 8);
    long norms = 2 * (1024 + 384 + 256 + 1024);
    long dense = 3L * 2816 * 1024 + 4 * 3 * (22 * 8);
    long expert = 3L * 512 * 1024 + 4 * 3 * (4 * 8);
    long moe = 7 * expert + 64 * 1024 * 2 + 64 * 4;
    long head = 2 * (8192L * 1024 + 1024);
    long expected = 8 * (attention + attentionScales + norms) + dense + 7 * moe + head;
    assertEquals(126_295_872L, expected, "the hand count itself");
    assertEquals(expected, perToken(RandomCheckpoint.Format.FP8));
  }
}
