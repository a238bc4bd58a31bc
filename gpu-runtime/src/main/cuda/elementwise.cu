// The small element-wise steps of a layer: SwiGLU's silu(g) * u, residual adds, the embedding
// gather and row gathers. Grid-stride loops; any grid.
#include "common.cuh"

// g[i] = silu(g[i]) * u[i] for i < n (model/MLP: v / (1 + e^-v), the exponential in double).
extern "C" __global__ void silu_mul(float* g, const float* u, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    float v = g[i];
    g[i] = (float)(v / (1.0 + exp(-(double)v))) * u[i];
  }
}

// x[i] += y[i] for i < n.
extern "C" __global__ void residual_add(float* x, const float* y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    x[i] += y[i];
  }
}

// out[t*ldo + d] = table[tokens[t], d] for t < rows, d < dim; the table is bf16 [vocab, dim].
extern "C" __global__ void embed_gather(const int* tokens, int rows, const __nv_bfloat16* table,
                                        int dim, float* out, int ldo) {
  int n = rows * dim;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    int t = i / dim, d = i % dim;
    out[(size_t)t * ldo + d] = __bfloat162float(table[(size_t)tokens[t] * dim + d]);
  }
}

// out[r*ldo + d] = src[rows[r]*lds + d] for r < n, d < dim: picks rows of an fp32 matrix (the
// hidden states the MTP module drafts from, out of the last step's).
extern "C" __global__ void gather_rows(const float* src, int lds, const int* rows, int n, int dim,
                                       float* out, int ldo) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n * dim; i += gridDim.x * blockDim.x) {
    int r = i / dim, d = i % dim;
    out[(size_t)r * ldo + d] = src[(size_t)rows[r] * lds + d];
  }
}

// dst[r*ldd + g*gd + i] = src[r*lds + g*gs + i] for r < rows, g < groups, i < width: moves
// per-head slices between layouts (MLA's rotated q_pe into the absorbed query).
extern "C" __global__ void strided_copy(const float* src, int lds, int gs, float* dst, int ldd,
                                        int gd, int rows, int groups, int width) {
  int n = rows * groups * width;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    int r = i / (groups * width), g = (i / width) % groups, c = i % width;
    dst[(size_t)r * ldd + (size_t)g * gd + c] = src[(size_t)r * lds + (size_t)g * gs + c];
  }
}
