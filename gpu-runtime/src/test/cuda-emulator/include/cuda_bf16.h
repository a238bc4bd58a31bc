// The emulator's stand-in for CUDA's <cuda_bf16.h>: the bf16 types and conversions the kernels use,
// with the device's rounding (round to nearest even; NaN stays NaN). The kernels include
// <cuda_bf16.h>; the emulator's build puts this folder first on the include path.
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t __x;
};

struct __nv_bfloat162 {
  __nv_bfloat16 x;  // the low 16 bits, as on the device
  __nv_bfloat16 y;
};

inline float __bfloat162float(__nv_bfloat16 b) {
  uint32_t bits = uint32_t(b.__x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{uint16_t((bits >> 16) | 0x40u)};
  bits += 0x7fffu + ((bits >> 16) & 1u);  // ties to the even bf16
  return __nv_bfloat16{uint16_t(bits >> 16)};
}

inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
