// DeepSeekMoE on the device (model/Gate, model/MoE): route, group the (row, k) slots by expert,
// run each expert's rows through grouped tensor-core GEMMs, and combine.
#include "mma.cuh"

namespace ls {
constexpr int kMaxExperts = 256;
constexpr int kMaxGroups = 32;
}  // namespace ls

using namespace ls;

// The router of model/Gate, one thread per row, in the reference's order of operations: scores =
// sigmoid(logits) (softmax when !sigmoid); choice = score + bias (bias may be null); with
// nGroup > 1, groups ranked by their best two choices (noaux_tc, topTwo) or their best one, the
// topkGroup best kept and the others' experts set to 0 (as transformers masks them); topK experts
// by choice, lowest id on ties; weights = unbiased scores, normalized when norm, times scaling.
// logits [rows, nExperts] is overwritten with the scores. Grid: ceil(rows/128); block 128.
extern "C" __global__ void moe_route(float* logits, int rows, int nExperts, const float* bias,
                                     int sigmoid, int nGroup, int topkGroup, int topTwo, int topK,
                                     int norm, float scaling, int* chosen, float* weights) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= rows) return;
  float* s = logits + (size_t)t * nExperts;
  if (sigmoid) {
    for (int e = 0; e < nExperts; e++) s[e] = (float)(1 / (1 + exp(-(double)s[e])));
  } else {
    float max = -INFINITY, sum = 0.f;
    for (int e = 0; e < nExperts; e++) max = fmaxf(max, s[e]);
    for (int e = 0; e < nExperts; e++) {
      s[e] = (float)exp((double)(s[e] - max));
      sum += s[e];
    }
    for (int e = 0; e < nExperts; e++) s[e] /= sum;
  }
  float choice[kMaxExperts];
  for (int e = 0; e < nExperts; e++) choice[e] = s[e] + (bias ? bias[e] : 0.f);
  if (nGroup > 1) {
    int per = nExperts / nGroup;
    float groupScore[kMaxGroups];
    bool keep[kMaxGroups];
    for (int g = 0; g < nGroup; g++) {
      float best = -INFINITY, second = -INFINITY;
      for (int e = g * per; e < (g + 1) * per; e++) {
        if (choice[e] > best) {
          second = best;
          best = choice[e];
        } else if (choice[e] > second) {
          second = choice[e];
        }
      }
      groupScore[g] = topTwo ? best + second : best;
      keep[g] = false;
    }
    for (int i = 0; i < topkGroup; i++) {
      int best = -1;
      for (int g = 0; g < nGroup; g++)
        if (!keep[g] && (best < 0 || groupScore[g] > groupScore[best])) best = g;
      keep[best] = true;
    }
    for (int e = 0; e < nExperts; e++)
      if (!keep[e / per]) choice[e] = 0.f;
  }
  bool taken[kMaxExperts];
  for (int e = 0; e < nExperts; e++) taken[e] = false;
  float sum = 0.f;
  for (int i = 0; i < topK; i++) {
    int best = -1;
    for (int e = 0; e < nExperts; e++)
      if (!taken[e] && (best < 0 || choice[e] > choice[best])) best = e;
    taken[best] = true;
    chosen[t * topK + i] = best;
    weights[t * topK + i] = s[best];
    sum += s[best];
  }
  for (int i = 0; i < topK; i++) {
    float w = weights[t * topK + i];
    if (norm) w /= sum + 1e-20f;
    weights[t * topK + i] = w * scaling;
  }
}

// Counting sort of the slots (row t, choice i) = t*topK + i by expert, stable (slot order within
// an expert), as model/MoE: start[e] .. start[e+1] are expert e's grouped positions, slotOf[slot]
// its grouped position, rowOf[position] its activation row. One thread: slots are few (rows x
// top_k) and the sort is a few microseconds; a single thread keeps it deterministic. load, when
// not null, accumulates each expert's rows of every call, the first *counted rows' (the rest pad
// a graphed step): the expert-load metric (ExpertLoad), counted inside a step's CUDA graph too.
// Grid 1, block 1.
extern "C" __global__ void moe_group(const int* chosen, int slots, int topK, int nExperts,
                                     int* start, int* slotOf, int* rowOf, const int* counted,
                                     unsigned long long* load) {
  for (int e = 0; e <= nExperts; e++) start[e] = 0;
  for (int i = 0; i < slots; i++) start[chosen[i] + 1]++;
  if (load != nullptr) {
    int n = min(slots, *counted * topK);
    for (int i = 0; i < n; i++) load[chosen[i]]++;
  }
  for (int e = 0; e < nExperts; e++) start[e + 1] += start[e];
  int cursor[kMaxExperts];
  for (int e = 0; e < nExperts; e++) cursor[e] = start[e];
  for (int i = 0; i < slots; i++) {
    int dst = cursor[chosen[i]]++;
    slotOf[i] = dst;
    rowOf[dst] = i / topK;
  }
}

// Expert e's grouped rows [start[e], start[e+1]) times its weights: y[pos] = x[rows ? rows[pos] :
// pos] W_e^T. rows gathers the token rows for the first projections; the down projection reads
// the grouped buffer itself (rows null). Experts' weights are one tensor [nExperts, N, K] (bf16,
// or fp8 with scales [nExperts, ceil(N/128), ceil(K/128)]). Grid (ceil(N/128), ceil(slots/16),
// nExperts); block 128: blocks past an expert's rows return at once.
extern "C" __global__ void moe_gemm_bf16(const float* x, int ldx, const int* rows,
                                         const int* start, const __nv_bfloat16* w, long long sw,
                                         float* y, int ldy, int N, int K) {
  int e = blockIdx.z, row0 = start[e] + blockIdx.y * 16, end = start[e + 1];
  if (row0 >= end) return;
  float acc[1][4][4];
  tile_bf16<1>(acc, Activations{x, ldx, end, rows}, w + (size_t)e * sw, row0, warp_col0(), N, K);
  store_tile<1>(acc, y, ldy, row0, warp_col0(), end, N, nullptr);
}

extern "C" __global__ void moe_gemm_fp8(const float* x, int ldx, const int* rows, const int* start,
                                        const uint8_t* w, long long sw, const float* scale,
                                        long long ss, float* y, int ldy, int N, int K) {
  int e = blockIdx.z, row0 = start[e] + blockIdx.y * 16, end = start[e + 1];
  if (row0 >= end) return;
  float acc[1][4][4];
  tile_fp8<1>(acc, Activations{x, ldx, end, rows}, w + (size_t)e * sw, scale + (size_t)e * ss, row0,
              warp_col0(), N, K);
  store_tile<1>(acc, y, ldy, row0, warp_col0(), end, N, nullptr);
}

// out[t] = sum over t's choices, in ascending expert id, of weight * expertOut[slotOf[slot]] (the
// reference's order, so a row's sum never depends on its batch). Grid: rows; block any.
extern "C" __global__ void moe_combine(const float* expertOut, const int* chosen,
                                       const float* weights, const int* slotOf, int topK, int dim,
                                       float* out, int ldo) {
  int t = blockIdx.x;
  const int* c = chosen + t * topK;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    float v = 0.f;
    int last = -1;
    for (int n = 0; n < topK; n++) {  // selection by ascending expert id: top_k is small
      int pick = -1;
      for (int i = 0; i < topK; i++)
        if (c[i] > last && (pick < 0 || c[i] < c[pick])) pick = i;
      last = c[pick];
      v += weights[t * topK + pick] * expertOut[(size_t)slotOf[t * topK + pick] * dim + d];
    }
    out[(size_t)t * ldo + d] = v;
  }
}
