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

// The block's argmax of x[0, n) into idx (lowest index on ties), and the softmax denominator
// relative to its value, sum exp(x_i - x_idx) in fp32 in the block's order; both to every thread.
__device__ __forceinline__ float block_top_and_denominator(const float* x, int n, int& idx) {
  float top;
  block_argmax(x, n, top, idx);
  float s = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += expf(x[i] - top);
  return block_sum(s);
}

// Sum of doubles over the block, given to every thread (as common.cuh's block_sum).
__device__ __forceinline__ double block_sum_d(double v) {
  __shared__ double partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One row's distribution as TokenDistribution.of builds it: p_i = softmax(l / T), candidates with
// p_i >= floor and p_i > 0, ranked by the sort key of TokenDistribution (descending float p, then
// ascending id) as one 63-bit integer, smaller ranking first.
struct RowDistribution {
  const float* x;
  int vocab;
  float top;
  double temperature, z, floor;

  // In fp64 from the fp32 logits, as the host: ((double) l_i - max) / T.
  __device__ double p(int i) const { return exp(((double)x[i] - (double)top) / temperature) / z; }

  __device__ long long key(int i, double pi) const {
    return ((long long)(0x7FFFFFFF - __float_as_int((float)pi)) << 32) | i;
  }

  // Candidates ranked at or before t: how many (count) or their probability (mass).
  __device__ double upTo(long long t, bool mass) const {
    double acc = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      double pi = p(i);
      if (pi >= floor && pi > 0 && key(i, pi) <= t) acc += mass ? pi : 1.0;
    }
    return block_sum_d(acc);
  }

  // The smallest key t with upTo(t) >= target (a candidate's key, as the search is over keys).
  __device__ long long firstReaching(double target, bool mass, long long hi) const {
    long long lo = 0;
    while (lo < hi) {
      long long mid = lo + (hi - lo) / 2;
      if (upTo(mid, mass) >= target) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }
};
}  // namespace ls

using namespace ls;

// Greedy choices of a step, only they cross to the host: for each i < gridDim.x, out[i] = the
// argmax of logits row rows[i] (the lowest id on ties) and logprob[i] = its log-softmax at
// temperature 1, l_top - max - log sum exp(l - max) = -log sum exp(l - max), summed in fp32 in
// the block's order (TokenDistribution.logprob sums in fp64 on the host: the same quantity within
// rounding, and on the device the same bits whatever the batch). Grid: chosen rows; block 256.
extern "C" __global__ void greedy_rows(const float* logits, int ld, int vocab, const int* rows,
                                       int* out, float* logprob) {
  int idx;
  float s = block_top_and_denominator(logits + (size_t)rows[blockIdx.x] * ld, vocab, idx);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = idx;
    logprob[blockIdx.x] = -logf(s);
  }
}

// Sampled choices of a step (temperature > 0), TokenDistribution.of and Sampler on the device:
// spec holds 6 values per chosen row: its row of logits, the seed, the generation index of its
// token, top_k, and the bits of temperature and top_p (doubles). Keep the candidates, the first
// top_k of them (0: all), then the smallest prefix holding top_p of their mass; draw u =
// Philox.uniform(seed, index) and take the first kept token whose cumulative mass exceeds u of the
// kept mass. Instead of sorting the vocabulary,
// each cut is a binary search over the rank keys with block-wide counts or masses (63 passes each).
// Sums run in fp64 in the block's order: the distribution equals the host's within rounding, and
// on the device it is the same bits whatever else is in the step. logprob is the chosen token's
// log-softmax at temperature 1. Grid: chosen rows; block 256.
extern "C" __global__ void sample_rows(const float* logits, int ld, int vocab,
                                       const long long* spec, int* out, float* logprob) {
  const long long* s = spec + 6 * blockIdx.x;
  const float* x = logits + (size_t)s[0] * ld;
  unsigned long long seed = (unsigned long long)s[1];
  int index = (int)s[2];
  int topK = (int)s[3];
  double temperature = __longlong_as_double(s[4]);
  double topP = __longlong_as_double(s[5]);

  RowDistribution d;
  d.x = x;
  d.vocab = vocab;
  int ignored;
  block_argmax(x, vocab, d.top, ignored);
  d.temperature = temperature;
  d.z = 1;  // p(i) unnormalized until z is known
  d.floor = 0;
  double z = 0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) z += d.p(i);
  d.z = block_sum_d(z);
  d.floor = topP < 1 ? (1 - topP) / vocab : 0;

  const long long last = 0x7FFFFFFFFFFFFFFFLL;
  double candidates = d.upTo(last, false);
  long long kept = last;
  if (topK > 0 && topK < candidates) kept = d.firstReaching(topK, false, last);
  if (topP < 1) {
    long long nucleus = d.firstReaching(topP * d.upTo(kept, true), true, kept);
    kept = nucleus < kept ? nucleus : kept;
  }
  // The first kept key whose cumulative mass exceeds u of the kept mass. The kept mass is the
  // search's own sum at `kept`, so with u < 1 some key qualifies: the host's rounding fallback (the
  // last token) cannot arise here.
  double threshold = philox_uniform(seed, index) * d.upTo(kept, true);
  long long lo = 0, hi = kept;
  while (lo < hi) {
    long long mid = lo + (hi - lo) / 2;
    if (d.upTo(mid, true) > threshold) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  int token = (int)(lo & 0xFFFFFFFFLL);
  double all = 0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) all += exp((double)x[i] - (double)d.top);
  all = block_sum_d(all);
  if (threadIdx.x == 0) {
    out[blockIdx.x] = token;
    logprob[blockIdx.x] = (float)((double)x[token] - (double)d.top - log(all));
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
  int idx;
  float s = block_top_and_denominator(logits + (size_t)blockIdx.x * ld, draftVocab, idx);
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
