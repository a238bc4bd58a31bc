// Fused RMSNorm (model/RMSNorm): y = weight * (x / sqrt(mean(x^2) + eps)), fp32, one block per row.
#include "common.cuh"

// Grid: rows; block: a multiple of 32 threads. y may alias x.
extern "C" __global__ void rmsnorm(const float* x, int ldx, const float* weight, float* y, int ldy,
                                   int dim, float eps) {
  const float* xr = x + (size_t)blockIdx.x * ldx;
  float* yr = y + (size_t)blockIdx.x * ldy;
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = ls::block_sum(ss);
  // The reference takes the root in double: 1 / sqrt(ss / d + eps).
  float inv = (float)(1.0 / sqrt((double)(ss / dim + eps)));
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = weight[i] * (xr[i] * inv);
}
