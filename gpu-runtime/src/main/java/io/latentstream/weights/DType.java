package io.latentstream.weights;

import java.nio.ByteBuffer;

/** The safetensors element types the engine reads, with their decoding to fp32. */
public enum DType {
  F32(4),
  BF16(2),
  F16(2),
  F8_E4M3(1),
  /** Integer tensors (goldens' expert ids); decoded exactly for values below 2^24. */
  I32(4),
  I64(8);

  private static final float[] E4M3 = e4m3Table();

  private final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  public int bytes() {
    return bytes;
  }

  /** The dtype named by a safetensors header, or an error naming it. */
  public static DType of(String name) {
    for (DType d : values()) {
      if (d.name().equals(name)) {
        return d;
      }
    }
    throw new IllegalArgumentException(
        "unsupported dtype '" + name + "' (supported: F32, BF16, F16, F8_E4M3, I32, I64)");
  }

  /** Decodes {@code n} little-endian elements from {@code in} at byte {@code at} into dst. */
  public void decode(ByteBuffer in, long at, float[] dst, int dstOff, int n) {
    int p = Math.toIntExact(at);
    switch (this) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = in.getFloat(p + 4 * i);
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = Float.intBitsToFloat((in.getShort(p + 2 * i) & 0xffff) << 16);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = halfToFloat(in.getShort(p + 2 * i));
        }
      }
      case F8_E4M3 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = E4M3[in.get(p + i) & 0xff];
        }
      }
      case I32 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = in.getInt(p + 4 * i);
        }
      }
      case I64 -> {
        for (int i = 0; i < n; i++) {
          dst[dstOff + i] = in.getLong(p + 8 * i);
        }
      }
    }
  }

  /** One OCP fp8 E4M3 value (as torch.float8_e4m3fn). */
  public static float e4m3(byte b) {
    return E4M3[b & 0xff];
  }

  /** IEEE binary16 to binary32 (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /** OCP fp8 E4M3 (finite-only, bias 7, 0x7f/0xff NaN), as torch.float8_e4m3fn. */
  private static float[] e4m3Table() {
    float[] t = new float[256];
    for (int b = 0; b < 256; b++) {
      int exp = (b >>> 3) & 0xf;
      int mant = b & 0x7;
      float v;
      if (exp == 0xf && mant == 0x7) {
        v = Float.NaN;
      } else if (exp == 0) {
        v = mant * 0x1p-9f;
      } else {
        v = (1 + mant / 8f) * (float) Math.pow(2, exp - 7);
      }
      t[b] = (b & 0x80) != 0 ? -v : v;
    }
    return t;
  }
}
