// The emulator's stand-in for CUDA's <cuda_bf16.h>: the bf16 types and conversions the kernels use,
// with the device's rounding (round to nearest even; NaN stays NaN). The kernels include
// <cuda_bf16.h>; the emulator's build puts this folder first on the include path.
#pragma once
#include <cstdint>
#include <cstring>

// C++20's std::bit_cast, for C++17: the same bits as another type of the same size.
template <class To, class From>
inline To ls_emu_bit_cast(From from) {
  static_assert(sizeof(To) == sizeof(From), "a bit cast keeps the size");
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

struct __nv_bfloat16 {
  uint16_t __x;
};

struct __nv_bfloat162 {
  __nv_bfloat16 x;  // the low 16 bits, as on the device
  __nv_bfloat16 y;
};

inline float __bfloat162float(__nv_bfloat16 b) {
  return ls_emu_bit_cast<float>(uint32_t(b.__x) << 16);
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t bits = ls_emu_bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{uint16_t((bits >> 16) | 0x40u)};
  bits += 0x7fffu + ((bits >> 16) & 1u);  // ties to the even bf16
  return __nv_bfloat16{uint16_t(bits >> 16)};
}

inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }

inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
