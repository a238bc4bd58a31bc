// Multi-head Latent Attention in the absorbed form (model/MLA) over a paged latent cache.
//
// The cache pool is [pages][layers][kPageTokens][latentDim] fp32: per token and layer the
// kv_lora_rank normalized latent c_kv then the qk_rope_head_dim rotated k_pe, exactly the CPU
// LatentCache's row (so exports stay byte-compatible). A sequence owns pages through its row of
// the block table [sequences, maxPages]; token p of it is slot p % 64 of page table[p / 64].
//
// Absorbed queries q[row, head, latentDim] = (q_nope W^UK, rotated q_pe) score every cached row
// with one dot product over latentDim; the output is the softmax-weighted sum of the c_kv parts,
// [row, head, kv_lora_rank], which W^UV then turns into head outputs. Each (row, head)'s context is
// split into chunks of splitLen tokens (flash-decoding): mla_attend writes each chunk's
// unnormalized sum with its max and denominator, mla_combine merges the chunks. Prefill rows run
// through the same pair with their own causal lengths (row at position p sees p + 1 tokens), in
// tiles of consecutive rows that read each cached token once, so one path serves both phases.
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

namespace ls {
constexpr int QJ = kMaxLatent / 32, AJ = kMaxLora / 32;

// Q absorbed queries' online softmax over the tokens of one chunk that a warp takes: per lane, AJ
// of each query's kvLora unnormalized output sums, and each query's running max and denominator.
// Both attention kernels below keep one per thread and step it with the same operations, so a
// query's numbers do not depend on which other queries share its block.
template <int Q>
struct ChunkSoftmax {
  float acc[Q][AJ], m[Q], l[Q];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int i = 0; i < Q; i++) {
      m[i] = -INFINITY;
      l[i] = 0.f;
#pragma unroll
      for (int j = 0; j < AJ; j++) acc[i][j] = 0.f;
    }
  }

  // Query i (latentDim values qi, in shared memory) takes cached token rv (this lane's values):
  // its scaled score, then FlashAttention's rescale of the running sums. The warp must be
  // converged: the score is a warp-wide sum.
  __device__ __forceinline__ void take(int i, const float* qi, const float (&rv)[QJ], int lane,
                                       int latentDim, int kvLora, float scale) {
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < QJ; j++)
      if (lane + 32 * j < latentDim) dot += qi[lane + 32 * j] * rv[j];
    float score = warp_sum(dot) * scale;
    float mNew = fmaxf(m[i], score);
    float correction = expf(m[i] - mNew), e = expf(score - mNew);
    l[i] = l[i] * correction + e;
#pragma unroll
    for (int j = 0; j < AJ; j++)
      if (lane + 32 * j < kvLora) acc[i][j] = acc[i][j] * correction + e * rv[j];
    m[i] = mNew;
  }

  // Merges the block's kWarps warps and writes the first n queries' chunk results: query i's at
  // part index out0 + i * stride of oPart (kvLora sums), mPart (max) and lPart (denominator); a
  // query that saw no token writes zeros, m = -inf and l = 0.
  __device__ void write(int n, size_t out0, size_t stride, int kvLora, float* oPart, float* mPart,
                        float* lPart) const {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __shared__ float sAcc[kWarps][Q][kMaxLora];
    __shared__ float sM[kWarps][Q], sL[kWarps][Q];
#pragma unroll
    for (int i = 0; i < Q; i++) {
#pragma unroll
      for (int j = 0; j < AJ; j++)
        if (lane + 32 * j < kvLora) sAcc[warp][i][lane + 32 * j] = acc[i][j];
      if (lane == 0) {
        sM[warp][i] = m[i];
        sL[warp][i] = l[i];
      }
    }
    __syncthreads();
    for (int i = 0; i < n; i++) {
      float mAll = -INFINITY;
      for (int w = 0; w < kWarps; w++) mAll = fmaxf(mAll, sM[w][i]);
      size_t out = out0 + i * stride;
      for (int j = threadIdx.x; j < kvLora; j += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < kWarps; w++)
          if (sM[w][i] > -INFINITY) v += sAcc[w][i][j] * expf(sM[w][i] - mAll);
        oPart[out * kvLora + j] = v;
      }
      if (threadIdx.x == 0) {
        float lAll = 0.f;
        for (int w = 0; w < kWarps; w++)
          if (sM[w][i] > -INFINITY) lAll += sL[w][i] * expf(sM[w][i] - mAll);
        mPart[out] = mAll;
        lPart[out] = lAll;
      }
    }
  }
};

// This lane's values of cached token row (zeros past latentDim).
__device__ __forceinline__ void load_row(const float* row, int lane, int latentDim,
                                         float (&rv)[QJ]) {
#pragma unroll
  for (int j = 0; j < QJ; j++) rv[j] = lane + 32 * j < latentDim ? row[lane + 32 * j] : 0.f;
}
}  // namespace ls

// One (tile, head, chunk): grid (splits, heads, tiles), block kWarps * 32 threads. A tile is up to
// kTileRows rows of one sequence, rows [tileStart[z], tileStart[z + 1]) of the step: the rows of a
// prefill chunk share their context, so each warp reads a cached token once for all the tile's rows
// instead of once per row (a decode row is a tile of its own). Each warp takes every kWarps-th
// token of the chunk, and each row that sees the token (p < rowLen) takes it; the warps merge at
// the end. A row's operations and their order are the same whichever rows share its tile, so a
// prompt's numbers do not depend on how it was cut into chunks or batched. Writes
// oPart[((row*heads + h)*splits + s)*kvLora + j] (unnormalized), mPart and
// lPart[(row*heads + h)*splits + s] (max of the scaled scores, sum of their exponentials).
constexpr int kTileRows = 4;  // 4 rows x 16 accumulators per lane, and 42 KB of shared memory

extern "C" __global__ void mla_attend(const float* q, int ldq, int heads, int kvLora, int rope,
                                      const float* pool, const int* table, int maxPages, int layer,
                                      int layers, const int* rowSeq, const int* rowLen,
                                      const int* tileStart, float scale, int splitLen, float* oPart,
                                      float* mPart, float* lPart) {
  int s = blockIdx.x, h = blockIdx.y, z = blockIdx.z, splits = gridDim.x;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int latentDim = kvLora + rope;
  constexpr int T = kTileRows;
  int r0 = tileStart[z], n = tileStart[z + 1] - r0;
  if (n == 0) return;  // a tile that pads a graphed step's grid: the whole block leaves
  __shared__ float sq[T][kMaxLatent];
  for (int i = threadIdx.x; i < n * latentDim; i += blockDim.x) {
    int t = i / latentDim, j = i % latentDim;
    sq[t][j] = q[(size_t)(r0 + t) * ldq + (size_t)h * latentDim + j];
  }
  __syncthreads();
  int len[T];
  int seen = 0;  // the tile's longest context
#pragma unroll
  for (int t = 0; t < T; t++) {
    len[t] = t < n ? rowLen[r0 + t] : 0;
    seen = max(seen, len[t]);
  }
  ChunkSoftmax<T> part;
  part.init();
  int seq = rowSeq[r0];
  int from = s * splitLen, to = min(seen, from + splitLen);
  for (int p = from + warp; p < to; p += kWarps) {
    float rv[QJ];
    load_row(token_row(pool, table, maxPages, seq, layer, layers, p, latentDim), lane, latentDim,
             rv);
#pragma unroll
    for (int t = 0; t < T; t++)
      if (p < len[t]) part.take(t, sq[t], rv, lane, latentDim, kvLora, scale);  // p: warp-uniform
  }
  part.write(n, ((size_t)r0 * heads + h) * splits + s, (size_t)heads * splits, kvLora, oPart,
             mPart, lPart);
}

// mla_attend for kGroupHeads heads of one row at once: each cached row is read once per group
// instead of once per head (absorbed MLA is multi-query attention: every head scores the same
// rows). Per head it runs mla_attend's operations in the same order (ChunkSoftmax), so results
// agree up to how the compiler fuses multiply-adds. A speed candidate measured beside mla_attend;
// the engine uses mla_attend until a GPU run has checked this one. Grid (splits, ceil(heads /
// kGroupHeads), rows), block kWarps * 32 threads; the same outputs as mla_attend.
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
  constexpr int G = kGroupHeads;
  __shared__ float sq[G][kMaxLatent];
  for (int i = threadIdx.x; i < G * latentDim; i += blockDim.x) {
    int g = i / latentDim, j = i % latentDim;
    sq[g][j] = h0 + g < heads ? q[(size_t)r * ldq + (size_t)(h0 + g) * latentDim + j] : 0.f;
  }
  __syncthreads();
  ChunkSoftmax<G> part;
  part.init();
  int len = rowLen[r], seq = rowSeq[r];
  int from = s * splitLen, to = min(len, from + splitLen);
  for (int p = from + warp; p < to; p += kWarps) {
    float rv[QJ];
    load_row(token_row(pool, table, maxPages, seq, layer, layers, p, latentDim), lane, latentDim,
             rv);
#pragma unroll
    for (int g = 0; g < G; g++) part.take(g, sq[g], rv, lane, latentDim, kvLora, scale);
  }
  part.write(min(G, heads - h0), ((size_t)r * heads + h0) * splits + s, splits, kvLora, oPart,
             mPart, lPart);
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
