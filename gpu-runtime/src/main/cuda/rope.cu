// Interleaved rotary embedding on the qk_rope_head_dim part (model/Rope): pairs (x0,x1),(x2,x3)...
// rotated by the angles of the row's position. The cos/sin tables [positions, rope/2] are the CPU
// Rope's own angles (YaRN frequencies and attention factor included), computed once on the host
// and uploaded, so both backends rotate by bitwise the same numbers.
#include "common.cuh"

// Rotates, for each row r and head h, x[r*ldx + h*headStride + offset .. + 2*half).
// Grid: rows; block: heads * half threads (one pair each, looping if more).
extern "C" __global__ void rope_interleaved(float* x, int ldx, int heads, int headStride,
                                            int offset, int half, const int* positions,
                                            const float* cosTable, const float* sinTable) {
  int r = blockIdx.x;
  const float* cs = cosTable + (size_t)positions[r] * half;
  const float* sn = sinTable + (size_t)positions[r] * half;
  for (int p = threadIdx.x; p < heads * half; p += blockDim.x) {
    int h = p / half, i = p % half;
    float* v = x + (size_t)r * ldx + h * headStride + offset + 2 * i;
    float x0 = v[0], x1 = v[1], c = cs[i], s = sn[i];
    v[0] = x0 * c - x1 * s;
    v[1] = x1 * c + x0 * s;
  }
}
