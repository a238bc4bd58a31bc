package io.latentstream.backend.cuda;

/** bfloat16 conversions on the host, as the device's {@code __float2bfloat16_rn}. */
public final class Bf16 {
  private Bf16() {}

  /** The bf16 bits nearest to v (ties to even; NaN stays NaN). */
  public static short bits(float v) {
    int b = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((b >>> 16) | 0x40);
    }
    return (short) ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
  }

  public static float value(short bits) {
    return Float.intBitsToFloat(bits << 16);
  }

  /** v rounded to the nearest bf16. */
  public static float round(float v) {
    return value(bits(v));
  }

  public static short[] of(float[] v) {
    short[] h = new short[v.length];
    for (int i = 0; i < v.length; i++) {
      h[i] = bits(v[i]);
    }
    return h;
  }
}
