// Shared device helpers of the latentstream kernels. Conventions, as in the CPU engine:
// activations are fp32 row-major [rows, width] with an explicit row stride; weights are bf16 or
// fp8 e4m3 row-major [out, in] (y = x W^T); every kernel is extern "C" so that its PTX entry
// name is the one in io.latentstream.backend.cuda.CudaKernel.
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

namespace ls {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return warp_sum(v);
}

// OCP fp8 E4M3 (finite only, bias 7, 0x7f/0xff NaN), as torch.float8_e4m3fn and weights/DType.
__device__ __forceinline__ float e4m3_to_float(uint8_t b) {
  uint32_t sign = (b & 0x80u) << 24, exp = (b >> 3) & 0xfu, mant = b & 0x7u;
  if (exp == 0xf && mant == 0x7) return __int_as_float(0x7fc00000);
  if (exp == 0) {  // subnormal: mant x 2^-9
    float v = mant * 0x1p-9f;
    return sign ? -v : v;
  }
  return __int_as_float(sign | ((exp + 120u) << 23) | (mant << 20));
}

// Philox4x32-10, first word, exactly as io.latentstream.sampling.Philox.word.
__device__ __forceinline__ uint32_t philox_word(uint64_t seed, uint32_t c0, uint32_t c1,
                                                uint32_t c2, uint32_t c3) {
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
  for (int round = 0; round < 10; round++) {
    uint32_t hi0 = __umulhi(0xD2511F53u, x0), lo0 = 0xD2511F53u * x0;
    uint32_t hi1 = __umulhi(0xCD9E8D57u, x2), lo1 = 0xCD9E8D57u * x2;
    x0 = hi1 ^ x1 ^ k0;
    x1 = lo1;
    x2 = hi0 ^ x3 ^ k1;
    x3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return x0;
}

// Philox.uniform: the top 24 bits of the word, exact in float as in double.
__device__ __forceinline__ float philox_uniform(uint64_t seed, int token_index) {
  return (philox_word(seed, (uint32_t)token_index, 0, 0, 0) >> 8) * 0x1p-24f;
}

}  // namespace ls
