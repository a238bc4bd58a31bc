// Multi-head Latent Attention in the absorbed form (model/MLA) over a paged latent cache.
//
// The cache pool is [pages][layers][kPageTokens][latentDim] fp32: per token and layer the
// kv_lora_rank normalized latent c_kv then the qk_rope_head_dim rotated k_pe, exactly the CPU
// LatentCache's row (so exports stay byte-compatible). A sequence owns pages through its row of
// the block table [sequences, maxPages]; token p of it is slot p % 64 of page table[p / 64].
//
// Absorbed queries q[row, head, latentDim] = (q_nope W^UK, rotated q_pe) score every cached row
// with one dot product over latentDim; the output is the softmax-weighted sum of the c_kv parts,
// [row, head, kv_lora_rank], which W^UV then turns into head outputs. Decoding splits each
// (row, head)'s context into chunks of splitLen tokens (flash-decoding): mla_attend writes each
// chunk's unnormalized sum with its max and denominator, mla_combine merges the chunks. Prefill
// rows run through the same pair with their own causal lengths (row at position p sees p + 1
// tokens), so one path serves both phases.
#include "common.cuh"

namespace ls {
constexpr int kPageTokens = 64;
constexpr int kMaxLatent = 640;  // kv_lora_rank + qk_rope_head_dim: 576 for DeepSeek-V3
constexpr int kMaxLora = 512;
constexpr int kWarps = 4;

__device__ __forceinline__ const float* token_row(const float* pool, const int* table, int maxPages,
                                                  int seq, int layer, int layers, int p,
                                                  int latentDim) {
  int page = table[(size_t)seq * maxPages + p / kPageTokens];
  return pool + (((size_t)page * layers + layer) * kPageTokens + p % kPageTokens) * latentDim;
}
}  // namespace ls

using namespace ls;

// Writes the latents kv[r, latentDim] (already normalized and rotated) of each row into its
// sequence's slot for position rowPos[r] at this layer. Grid: rows; block: any.
extern "C" __global__ void mla_cache_append(const float* kv, int ldkv, int latentDim, float* pool,
                                            const int* table, int maxPages, int layer, int layers,
                                            const int* rowSeq, const int* rowPos) {
  int r = blockIdx.x;
  float* dst = const_cast<float*>(
      token_row(pool, table, maxPages, rowSeq[r], layer, layers, rowPos[r], latentDim));
  for (int i = threadIdx.x; i < latentDim; i += blockDim.x) dst[i] = kv[(size_t)r * ldkv + i];
}

// One (row, head, chunk): grid (splits, heads, rows), block kWarps * 32 threads. Each warp takes
// every kWarps-th token of the chunk, keeps an online softmax over its tokens, and the warps merge
// at the end. Writes oPart[((row*heads + h)*splits + s)*kvLora + j] (unnormalized), mPart and
// lPart[(row*heads + h)*splits + s] (max of the scaled scores, sum of their exponentials).
extern "C" __global__ void mla_attend(const float* q, int ldq, int heads, int kvLora, int rope,
                                      const float* pool, const int* table, int maxPages, int layer,
                                      int layers, const int* rowSeq, const int* rowLen, float scale,
                                      int splitLen, float* oPart, float* mPart, float* lPart) {
  int s = blockIdx.x, h = blockIdx.y, r = blockIdx.z, splits = gridDim.x;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int latentDim = kvLora + rope;
  constexpr int QJ = kMaxLatent / 32, AJ = kMaxLora / 32;
  const float* qr = q + (size_t)r * ldq + (size_t)h * latentDim;
  float qv[QJ], acc[AJ];
#pragma unroll
  for (int j = 0; j < QJ; j++) qv[j] = lane + 32 * j < latentDim ? qr[lane + 32 * j] : 0.f;
#pragma unroll
  for (int j = 0; j < AJ; j++) acc[j] = 0.f;
  float m = -INFINITY, l = 0.f;
  int len = rowLen[r], seq = rowSeq[r];
  int from = s * splitLen, to = min(len, from + splitLen);
  for (int p = from + warp; p < to; p += kWarps) {
    const float* row = token_row(pool, table, maxPages, seq, layer, layers, p, latentDim);
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < QJ; j++)
      if (lane + 32 * j < latentDim) dot += qv[j] * row[lane + 32 * j];
    float score = warp_sum(dot) * scale;
    float mNew = fmaxf(m, score);
    float correction = expf(m - mNew), e = expf(score - mNew);
    l = l * correction + e;
#pragma unroll
    for (int j = 0; j < AJ; j++)
      if (lane + 32 * j < kvLora) acc[j] = acc[j] * correction + e * row[lane + 32 * j];
    m = mNew;
  }
  // Merge the warps: shared [kWarps][kMaxLora] sums plus per-warp max and denominator.
  __shared__ float sAcc[kWarps][kMaxLora];
  __shared__ float sM[kWarps], sL[kWarps];
#pragma unroll
  for (int j = 0; j < AJ; j++)
    if (lane + 32 * j < kvLora) sAcc[warp][lane + 32 * j] = acc[j];
  if (lane == 0) {
    sM[warp] = m;
    sL[warp] = l;
  }
  __syncthreads();
  float mAll = -INFINITY;
  for (int w = 0; w < kWarps; w++) mAll = fmaxf(mAll, sM[w]);
  size_t out = ((size_t)r * heads + h) * splits + s;
  for (int j = threadIdx.x; j < kvLora; j += blockDim.x) {
    float v = 0.f;
    for (int w = 0; w < kWarps; w++)
      if (sM[w] > -INFINITY) v += sAcc[w][j] * expf(sM[w] - mAll);
    oPart[out * kvLora + j] = v;
  }
  if (threadIdx.x == 0) {
    float lAll = 0.f;
    for (int w = 0; w < kWarps; w++)
      if (sM[w] > -INFINITY) lAll += sL[w] * expf(sM[w] - mAll);
    mPart[out] = mAll;
    lPart[out] = lAll;
  }
}

// mla_attend for kGroupHeads heads at once: each cached row is read once per group instead of once
// per head (absorbed MLA is multi-query attention: every head scores the same rows). Per head it
// runs mla_attend's operations in the same order, so results agree up to how the compiler fuses
// multiply-adds. A speed candidate measured beside mla_attend; the engine uses mla_attend until a
// GPU run has checked this one. Grid (splits, ceil(heads / kGroupHeads), rows), block kWarps * 32
// threads; the same outputs as mla_attend.
constexpr int kGroupHeads = 4;

extern "C" __global__ void mla_attend_grouped(const float* q, int ldq, int heads, int kvLora,
                                              int rope, const float* pool, const int* table,
                                              int maxPages, int layer, int layers,
                                              const int* rowSeq, const int* rowLen, float scale,
                                              int splitLen, float* oPart, float* mPart,
                                              float* lPart) {
  int s = blockIdx.x, h0 = blockIdx.y * kGroupHeads, r = blockIdx.z, splits = gridDim.x;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int latentDim = kvLora + rope;
  constexpr int QJ = kMaxLatent / 32, AJ = kMaxLora / 32, G = kGroupHeads;
  __shared__ float sq[G][kMaxLatent];
  for (int i = threadIdx.x; i < G * latentDim; i += blockDim.x) {
    int g = i / latentDim, j = i % latentDim;
    sq[g][j] = h0 + g < heads ? q[(size_t)r * ldq + (size_t)(h0 + g) * latentDim + j] : 0.f;
  }
  __syncthreads();
  float acc[G][AJ], m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; g++) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int j = 0; j < AJ; j++) acc[g][j] = 0.f;
  }
  int len = rowLen[r], seq = rowSeq[r];
  int from = s * splitLen, to = min(len, from + splitLen);
  for (int p = from + warp; p < to; p += kWarps) {
    const float* row = token_row(pool, table, maxPages, seq, layer, layers, p, latentDim);
    float rv[QJ];
#pragma unroll
    for (int j = 0; j < QJ; j++) rv[j] = lane + 32 * j < latentDim ? row[lane + 32 * j] : 0.f;
#pragma unroll
    for (int g = 0; g < G; g++) {
      float dot = 0.f;
#pragma unroll
      for (int j = 0; j < QJ; j++)
        if (lane + 32 * j < latentDim) dot += sq[g][lane + 32 * j] * rv[j];
      float score = warp_sum(dot) * scale;
      float mNew = fmaxf(m[g], score);
      float correction = expf(m[g] - mNew), e = expf(score - mNew);
      l[g] = l[g] * correction + e;
#pragma unroll
      for (int j = 0; j < AJ; j++)
        if (lane + 32 * j < kvLora) acc[g][j] = acc[g][j] * correction + e * rv[j];
      m[g] = mNew;
    }
  }
  __shared__ float sAcc[kWarps][G][kMaxLora];
  __shared__ float sM[kWarps][G], sL[kWarps][G];
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int j = 0; j < AJ; j++)
      if (lane + 32 * j < kvLora) sAcc[warp][g][lane + 32 * j] = acc[g][j];
    if (lane == 0) {
      sM[warp][g] = m[g];
      sL[warp][g] = l[g];
    }
  }
  __syncthreads();
  for (int g = 0; g < G && h0 + g < heads; g++) {
    float mAll = -INFINITY;
    for (int w = 0; w < kWarps; w++) mAll = fmaxf(mAll, sM[w][g]);
    size_t out = ((size_t)r * heads + h0 + g) * splits + s;
    for (int j = threadIdx.x; j < kvLora; j += blockDim.x) {
      float v = 0.f;
      for (int w = 0; w < kWarps; w++)
        if (sM[w][g] > -INFINITY) v += sAcc[w][g][j] * expf(sM[w][g] - mAll);
      oPart[out * kvLora + j] = v;
    }
    if (threadIdx.x == 0) {
      float lAll = 0.f;
      for (int w = 0; w < kWarps; w++)
        if (sM[w][g] > -INFINITY) lAll += sL[w][g] * expf(sM[w][g] - mAll);
      mPart[out] = mAll;
      lPart[out] = lAll;
    }
  }
}

// Merges the chunks of mla_attend into o[r*ldo + h*kvLora + j]. Grid (heads, rows); block any.
extern "C" __global__ void mla_combine(const float* oPart, const float* mPart, const float* lPart,
                                       int heads, int kvLora, int splits, float* o, int ldo) {
  int h = blockIdx.x, r = blockIdx.y;
  size_t base = ((size_t)r * heads + h) * splits;
  float mAll = -INFINITY;
  for (int s = 0; s < splits; s++) mAll = fmaxf(mAll, mPart[base + s]);
  float lAll = 0.f;
  for (int s = 0; s < splits; s++)
    if (mPart[base + s] > -INFINITY) lAll += lPart[base + s] * expf(mPart[base + s] - mAll);
  for (int j = threadIdx.x; j < kvLora; j += blockDim.x) {
    float v = 0.f;
    for (int s = 0; s < splits; s++)
      if (mPart[base + s] > -INFINITY)
        v += oPart[(base + s) * kvLora + j] * expf(mPart[base + s] - mAll);
    o[(size_t)r * ldo + (size_t)h * kvLora + j] = v / lAll;
  }
}
