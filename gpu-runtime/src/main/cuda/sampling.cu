// Choosing tokens on the device: greedy argmax, and the counter-based uniform of sampling/Philox
// (bitwise the CPU's: the same Philox4x32-10 word, its top 24 bits), with the temperature-only
// sampling it drives.
#include "common.cuh"

namespace ls {
// The larger (value, lower index on ties) of two candidates, as TokenDistribution.argmax; an index
// of -1 marks "no candidate yet" (a lane that saw no element).
__device__ __forceinline__ void better(float& v, int& i, float v2, int i2) {
  if (i2 < 0) return;
  if (i < 0 || v2 > v || (v2 == v && i2 < i)) {
    v = v2;
    i = i2;
  }
}

// The block's argmax of x[0, n), the lowest index on ties, given to every thread (each reduces
// the warps' candidates in warp order). Once per kernel: its shared arrays are not fenced for reuse.
__device__ __forceinline__ void block_argmax(const float* x, int n, float& v, int& idx) {
  v = -INFINITY;
  idx = -1;
  for (int i = threadIdx.x; i < n; i += blockDim.x) better(v, idx, x[i], i);
  for (int o = 16; o > 0; o >>= 1) {
    float v2 = __shfl_xor_sync(0xffffffffu, v, o);
    int i2 = __shfl_xor_sync(0xffffffffu, idx, o);
    better(v, idx, v2, i2);
  }
  __shared__ float sv[32];
  __shared__ int si[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = idx;
  }
  __syncthreads();
  v = sv[0];
  idx = si[0];
  for (int w = 1; w < (int)(blockDim.x >> 5); w++) better(v, idx, sv[w], si[w]);
}
}  // namespace ls

using namespace ls;

// out[r] = argmax of logits[r*ld .. + vocab], the lowest index on ties. Grid: rows; block 256.
extern "C" __global__ void argmax_rows(const float* logits, int ld, int vocab, int* out) {
  float v;
  int idx;
  block_argmax(logits + (size_t)blockIdx.x * ld, vocab, v, idx);
  if (threadIdx.x == 0) out[blockIdx.x] = idx;
}

// Greedy choices of a step, only they cross to the host: for each i < gridDim.x, out[i] = the
// argmax of logits row rows[i] (the lowest id on ties) and logprob[i] = its log-softmax at
// temperature 1, l_top - max - log sum exp(l - max) = -log sum exp(l - max), summed in fp32 in
// the block's order (TokenDistribution.logprob sums in fp64 on the host: the same quantity within
// rounding, and on the device the same bits whatever the batch). Grid: chosen rows; block 256.
extern "C" __global__ void greedy_rows(const float* logits, int ld, int vocab, const int* rows,
                                       int* out, float* logprob) {
  const float* x = logits + (size_t)rows[blockIdx.x] * ld;
  float top;
  int idx;
  block_argmax(x, vocab, top, idx);
  float s = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += expf(x[i] - top);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = idx;
    logprob[blockIdx.x] = -logf(s);
  }
}

// The MTP draft of each row (Engine.draft's rule): the argmax over the draft vocabulary [0,
// draftVocab), proposed when its softmax probability over that range, 1 / sum exp(q - q_max),
// reaches minConfidence (0: always); else -1. Only the token crosses to the host, never the row.
// The sum runs in fp32 in the block's order (the host's rule sums in fp64): a draft changes the
// step count, never a token, so a probability within rounding of the threshold may go either way.
// Grid: rows; block 256.
extern "C" __global__ void draft_rows(const float* logits, int ld, int draftVocab,
                                      float minConfidence, int* out) {
  const float* x = logits + (size_t)blockIdx.x * ld;
  float top;
  int idx;
  block_argmax(x, draftVocab, top, idx);
  float s = 0.f;
  for (int i = threadIdx.x; i < draftVocab; i += blockDim.x) s += expf(x[i] - top);
  s = block_sum(s);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = minConfidence <= 0.f || 1.f / s >= minConfidence ? idx : -1;
  }
}

// u[r] = Philox.uniform(seeds[r], indices[r]). Grid: ceil(rows/128); block 128.
extern "C" __global__ void philox_uniform_rows(const unsigned long long* seeds, const int* indices,
                                               int rows, float* u) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) u[r] = philox_uniform(seeds[r], indices[r]);
}
