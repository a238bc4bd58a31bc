// Linear layers y = x W^T on the tensor cores (see mma.cuh for the tiling and the fp8 scheme):
// gemv_* for few rows (decode), gemm_* for many (prefill, large batches), plus the fp32 GEMV of
// the MoE router.
#include "mma.cuh"

namespace ls {

template <int MT>
__device__ void gemm_bf16_tile(const Activations x, const __nv_bfloat16* w, float* y, int ldy,
                               int row0, int N, int K) {
  float acc[MT][4][4];
  int col0 = warp_col0();
  tile_bf16<MT>(acc, x, w, row0, col0, N, K);
  store_tile<MT>(acc, y, ldy, row0, col0, x.m, N, nullptr);
}

template <int MT>
__device__ void gemm_fp8_tile(const Activations x, const uint8_t* w, const float* scale, float* y,
                              int ldy, int row0, int N, int K) {
  float acc[MT][4][4];
  int col0 = warp_col0();
  tile_fp8<MT>(acc, x, w, scale, row0, col0, N, K);
  store_tile<MT>(acc, y, ldy, row0, col0, x.m, N, nullptr);
}

}  // namespace ls

using namespace ls;

// Every GEMM kernel runs grid.z independent products (the heads of MLA's absorbed W^UK and W^UV):
// product z reads x + z*sx, w + z*sw (and scale + z*ss) and writes y + z*sy; sizes in elements.
// Block 128 threads; grid (ceil(N/128), ceil(M/16) or ceil(M/64), products).
extern "C" __global__ void gemv_bf16(const float* x, int ldx, long long sx, int M,
                                     const __nv_bfloat16* w, long long sw, float* y, int ldy,
                                     long long sy, int N, int K) {
  size_t z = blockIdx.z;
  gemm_bf16_tile<1>(Activations{x + z * sx, ldx, M, nullptr}, w + z * sw, y + z * sy, ldy,
                    blockIdx.y * 16, N, K);
}

extern "C" __global__ void gemm_bf16(const float* x, int ldx, long long sx, int M,
                                     const __nv_bfloat16* w, long long sw, float* y, int ldy,
                                     long long sy, int N, int K) {
  size_t z = blockIdx.z;
  gemm_bf16_tile<4>(Activations{x + z * sx, ldx, M, nullptr}, w + z * sw, y + z * sy, ldy,
                    blockIdx.y * 64, N, K);
}

extern "C" __global__ void gemv_fp8(const float* x, int ldx, long long sx, int M, const uint8_t* w,
                                    long long sw, const float* scale, long long ss, float* y,
                                    int ldy, long long sy, int N, int K) {
  size_t z = blockIdx.z;
  gemm_fp8_tile<1>(Activations{x + z * sx, ldx, M, nullptr}, w + z * sw, scale + z * ss,
                   y + z * sy, ldy, blockIdx.y * 16, N, K);
}

extern "C" __global__ void gemm_fp8(const float* x, int ldx, long long sx, int M, const uint8_t* w,
                                    long long sw, const float* scale, long long ss, float* y,
                                    int ldy, long long sy, int N, int K) {
  size_t z = blockIdx.z;
  gemm_fp8_tile<4>(Activations{x + z * sx, ldx, M, nullptr}, w + z * sw, scale + z * ss,
                   y + z * sy, ldy, blockIdx.y * 64, N, K);
}

// fp32 y = x W^T for the MoE router, whose expert choice must not move with bf16 rounding (the
// reference computes the gate in fp32 too). One warp per (row, output), k ascending per lane.
// Grid: (ceil(N/4), M); block 128 threads.
extern "C" __global__ void gemv_f32(const float* x, int ldx, int M, const float* w, float* y,
                                    int ldy, int N, int K) {
  int n = blockIdx.x * 4 + (threadIdx.x >> 5), r = blockIdx.y, lane = threadIdx.x & 31;
  if (n >= N || r >= M) return;
  float s = 0.f;
  for (int k = lane; k < K; k += 32) s += x[(size_t)r * ldx + k] * w[(size_t)n * K + k];
  s = warp_sum(s);
  if (lane == 0) y[(size_t)r * ldy + n] = s;
}
