// The tensor-core core of the linear layers (gemm.cu) and of the grouped expert GEMM (moe.cu):
// mma.sync m16n8k16, bf16 inputs, fp32 accumulation.
//
// Each warp owns an output tile of 16*MT rows x 32 columns (MT m16 tiles x four n8 tiles) and
// walks the whole K dimension in steps of 16, in ascending order: the sum behind an output depends
// only on its own row and column, never on M or on which tile holds it, so a row's result is the
// same whatever batch it is in. A block is 4 warps side by side: 16*MT rows x 128 columns.
// MT = 1 is the GEMV-shaped path (decode: few rows, weight-bandwidth bound), MT = 4 the
// GEMM-shaped one (prefill, large batches: each weight fragment feeds four row tiles).
//
// Weights: bf16 [N, K], or fp8 e4m3 [N, K] with fp32 scales per 128x128 block
// ([ceil(N/128), ceil(K/128)], DeepSeek-V3's weight_scale_inv): the raw fp8 values are exact in
// bf16, each 128-wide K block is accumulated on its own and then multiplied by its scale, so the
// dequantization happens inside the GEMM at fp32 precision.
//
// Fragment layouts (PTX ISA, mma.m16n8k16 .bf16): with g = lane/4, c = lane%4,
//   A a0:(g, 2c..2c+1) a1:(g+8, 2c..) a2:(g, 2c+8..) a3:(g+8, 2c+8..)
//   B b0:(k=2c..2c+1, n=g) b1:(k=2c+8.., n=g)        C c0,c1:(g, 2c..2c+1) c2,c3:(g+8, 2c..)
#pragma once
#include "common.cuh"

namespace ls {

constexpr int kWarpCols = 32;
constexpr int kBlockWarps = 4;
constexpr int kBlockCols = kWarpCols * kBlockWarps;
constexpr int kFp8Block = 128;

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// The kernels' only inline PTX. The tests' CPU-emulated device (src/test/cuda-emulator) brings a
// warp-cooperative mma_bf16 of its own, written from the PTX ISA's fragment tables.
#ifndef LS_CUDA_EMULATOR
__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

// Activation rows: x[row * ldx + k], rows beyond m read as zero; `rows` maps tile rows to
// activation rows (the MoE gather) when not null.
struct Activations {
  const float* x;
  int ldx;
  int m;
  const int* rows;

  __device__ __forceinline__ float at(int r, int k, int K) const {
    if (r >= m || k >= K) return 0.f;
    int src = rows ? rows[r] : r;
    return x[(size_t)src * ldx + k];
  }

  __device__ __forceinline__ uint32_t pair(int r, int k, int K) const {
    return pack_bf16(at(r, k, K), at(r, k + 1, K));
  }
};

struct Bf16Weights {
  const __nv_bfloat16* w;
  __device__ __forceinline__ float at(int n, int k, int N, int K) const {
    return n < N && k < K ? __bfloat162float(w[(size_t)n * K + k]) : 0.f;
  }
};

struct Fp8Weights {
  const uint8_t* w;
  __device__ __forceinline__ float at(int n, int k, int N, int K) const {
    return n < N && k < K ? e4m3_to_float(w[(size_t)n * K + k]) : 0.f;
  }
};

// acc[t][j][4]: m16 tile t, n8 tile j. Adds sum over k in [k0, k1) of x[r, k] * W[n, k].
template <int MT, class W>
__device__ __forceinline__ void mma_range(float acc[MT][4][4], const Activations& x, const W& w,
                                         int row0, int col0, int N, int K, int k0, int k1) {
  int g = (threadIdx.x & 31) >> 2, c = threadIdx.x & 3;
  for (int k = k0; k < k1; k += 16) {
    uint32_t b[4][2];
    for (int j = 0; j < 4; j++) {
      int n = col0 + 8 * j + g;
      b[j][0] = pack_bf16(w.at(n, k + 2 * c, N, K), w.at(n, k + 2 * c + 1, N, K));
      b[j][1] = pack_bf16(w.at(n, k + 2 * c + 8, N, K), w.at(n, k + 2 * c + 9, N, K));
    }
    for (int t = 0; t < MT; t++) {
      int r = row0 + 16 * t + g;
      uint32_t a[4] = {x.pair(r, k + 2 * c, K), x.pair(r + 8, k + 2 * c, K),
                       x.pair(r, k + 2 * c + 8, K), x.pair(r + 8, k + 2 * c + 8, K)};
      for (int j = 0; j < 4; j++) mma_bf16(acc[t][j], a, b[j][0], b[j][1]);
    }
  }
}

template <int MT>
__device__ __forceinline__ void store_tile(float acc[MT][4][4], float* y, int ldy, int row0,
                                           int col0, int M, int N, const int* rows) {
  int g = (threadIdx.x & 31) >> 2, c = threadIdx.x & 3;
  for (int t = 0; t < MT; t++)
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) {
        int r = row0 + 16 * t + g + (i >= 2 ? 8 : 0);
        int n = col0 + 8 * j + 2 * c + (i & 1);
        if (r < M && n < N) y[(size_t)(rows ? rows[r] : r) * ldy + n] = acc[t][j][i];
      }
}

template <int MT>
__device__ __forceinline__ void zero(float acc[MT][4][4]) {
  for (int t = 0; t < MT; t++)
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) acc[t][j][i] = 0.f;
}

// acc = x W^T for the warp's tile, W bf16 [N, K].
template <int MT>
__device__ __forceinline__ void tile_bf16(float acc[MT][4][4], const Activations& x,
                                          const __nv_bfloat16* w, int row0, int col0, int N,
                                          int K) {
  zero<MT>(acc);
  mma_range<MT>(acc, x, Bf16Weights{w}, row0, col0, N, K, 0, K);
}

// acc = x (W * scale)^T for the warp's tile, W fp8 [N, K] with scale [ceil(N/128), ceil(K/128)]:
// each 128-wide K block accumulated alone, then scaled into acc.
template <int MT>
__device__ __forceinline__ void tile_fp8(float acc[MT][4][4], const Activations& x,
                                         const uint8_t* w, const float* scale, int row0, int col0,
                                         int N, int K) {
  int kBlocks = (K + kFp8Block - 1) / kFp8Block;
  // A warp's 32 columns never straddle a 128-row scale block (128 is a multiple of 32).
  const float* rowScale = scale + (size_t)(col0 / kFp8Block) * kBlocks;
  float part[MT][4][4];
  zero<MT>(acc);
  for (int kb = 0; kb < kBlocks; kb++) {
    zero<MT>(part);
    int k0 = kb * kFp8Block;
    mma_range<MT>(part, x, Fp8Weights{w}, row0, col0, N, K, k0, min(K, k0 + kFp8Block));
    float s = col0 < N ? rowScale[kb] : 0.f;
    for (int t = 0; t < MT; t++)
      for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) acc[t][j][i] += part[t][j][i] * s;
  }
}

// The column the calling warp's tile starts at.
__device__ __forceinline__ int warp_col0() {
  return blockIdx.x * kBlockCols + (threadIdx.x >> 5) * kWarpCols;
}

}  // namespace ls
