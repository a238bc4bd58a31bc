// The emulator's semantics, each shown to be real: a test that would pass on an emulator that ran
// threads one after another to the end (no barrier, no warp) fails here, and the same kernel with
// its synchronization compiled out gives the wrong answer. Exit status 0 when all hold.
#include <cstdio>
#include <random>
#include <vector>

#include "runtime.h"
// (after the emulator's header)
#include "common.cuh"  // the kernels' own block_sum and warp_sum

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) failures++;
}

template <auto F>
bool launch(unsigned blocks, unsigned threads, std::vector<void*> args, std::string* error = nullptr) {
  static const ls_emu::Kernel kernel{"selftest", &ls_emu::invoke<F>, ls_emu::sizes_of(F)};
  std::string e;
  bool ok = ls_emu::run_grid(kernel, args.data(), {blocks, 1, 1}, {threads, 1, 1}, e);
  if (error) *error = e;
  return ok;
}

// Each thread publishes a value in shared memory and reads its neighbour's: right only if every
// thread has written before any reads, which the barrier guarantees. (The values name the round
// and the block: a worker's earlier block leaves its values behind in the same shared array.)
template <bool Barrier>
void neighbour(int round, int* out) {
  __shared__ int s[256];
  int t = threadIdx.x, n = blockDim.x, base = 1000000 * round + 1000 * blockIdx.x;
  s[t] = base + t;
  if (Barrier) __syncthreads();
  out[blockIdx.x * n + t] = s[(t + 1) % n];
}

void warp_shuffles(float* sums, int* broadcast, int* rotated) {
  int lane = threadIdx.x & 31;
  sums[threadIdx.x] = ls::warp_sum(float(lane));
  broadcast[threadIdx.x] = __shfl_sync(0xffffffffu, lane * 10, 5);
  rotated[threadIdx.x] = __shfl_xor_sync(0xffffffffu, lane, 1);
}

void two_block_sums(const float* x, float* first, float* second) {
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  first[blockIdx.x * blockDim.x + threadIdx.x] = ls::block_sum(v);
  // Again at once: block_sum's first barrier keeps this call's writes of `partial` from racing
  // the previous call's reads.
  second[blockIdx.x * blockDim.x + threadIdx.x] = ls::block_sum(2 * v);
}

// Lane 0 waits at the block's barrier, the other lanes at a shuffle that needs lane 0.
void divergent_barrier(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  }
  out[threadIdx.x] = v;
}

// Every thread of every block counts itself, in an int and in a float; lanes vote.
void atomics_and_votes(int* count, float* sum, unsigned* votes, int* any_all) {
  atomicAdd(count, 1);
  atomicAdd(sum, 0.5f);
  atomicMax(count + 1, int(blockIdx.x * blockDim.x + threadIdx.x));
  unsigned odd = __ballot_sync(0xffffffffu, threadIdx.x & 1);
  int any = __any_sync(0xffffffffu, threadIdx.x == 7), all = __all_sync(0xffffffffu, 1);
  __syncwarp();
  if (blockIdx.x == 0 && threadIdx.x < 32) {
    votes[threadIdx.x] = odd;
    any_all[threadIdx.x] = any * 2 + all;
  }
}

// One warp: A (16x16) and B (16x8, k by n) loaded into mma.m16n8k16 fragments by the PTX ISA's
// table (written here independently of the emulator's), C stored by the same table.
void mma_tile(const float* a, const float* b, float* c) {
  int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  auto pack = [](float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return bits;
  };
  uint32_t fa[4] = {pack(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]),
                    pack(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]),
                    pack(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]),
                    pack(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9])};
  uint32_t b0 = pack(b[(2 * t) * 8 + g], b[(2 * t + 1) * 8 + g]);
  uint32_t b1 = pack(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]);
  float acc[4] = {1.f, 2.f, 3.f, 4.f};  // C's initial values are added, not overwritten
  mma_bf16(acc, fa, b0, b1);
  c[g * 8 + 2 * t] = acc[0] - 1.f;
  c[g * 8 + 2 * t + 1] = acc[1] - 2.f;
  c[(g + 8) * 8 + 2 * t] = acc[2] - 3.f;
  c[(g + 8) * 8 + 2 * t + 1] = acc[3] - 4.f;
}

uint16_t bf16_bits(float f) { return __float2bfloat16_rn(f).__x; }

}  // namespace

// The driver calls of the stream-ordered path the engine is moving to (driver.cpp).
extern "C" {
int cuInit(unsigned);
int cuCtxCreate_v2(void**, unsigned, int);
int cuCtxDestroy_v2(void*);
int cuStreamCreate(void**, unsigned);
int cuMemAlloc_v2(unsigned long long*, size_t);
int cuMemAllocHost_v2(void**, size_t);
int cuMemFreeHost(void*);
int cuMemcpyHtoD_v2(unsigned long long, const void*, size_t);
int cuMemcpyHtoDAsync_v2(unsigned long long, const void*, size_t, void*);
int cuMemcpyDtoHAsync_v2(void*, unsigned long long, size_t, void*);
int cuMemsetD32Async(unsigned long long, unsigned, size_t, void*);
int cuStreamBeginCapture_v2(void*, int);
int cuStreamEndCapture(void*, void**);
int cuGraphInstantiateWithFlags(void**, void*, unsigned long long);
int cuGraphLaunch(void*, void*);
int cuStreamSynchronize(void*);
}

// Pinned memory, async copies and a captured graph of a memset and a copy, replayed.
bool streams_and_graphs() {
  void* context;
  void* stream;
  unsigned long long a, b;
  uint32_t* host;
  bool ok = cuInit(0) == 0 && cuCtxCreate_v2(&context, 0, 0) == 0 &&
            cuStreamCreate(&stream, 0) == 0 && cuMemAlloc_v2(&a, 64) == 0 &&
            cuMemAlloc_v2(&b, 64) == 0 && cuMemAllocHost_v2((void**)&host, 64) == 0;
  for (int i = 0; ok && i < 16; i++) host[i] = uint32_t(i);
  ok = ok && cuMemcpyHtoDAsync_v2(a, host, 64, stream) == 0;
  void* graph;
  void* exec;
  ok = ok && cuStreamBeginCapture_v2(stream, 0) == 0 && cuMemsetD32Async(b, 7, 8, stream) == 0 &&
       cuMemcpyDtoHAsync_v2(host, b, 64, stream) == 0;
  // A synchronous copy now would wait for the capturing stream: refused, the capture invalidated.
  bool refused = ok && cuMemcpyHtoD_v2(b, host, 4) == 906;
  ok = ok && cuStreamEndCapture(stream, &graph) == 901 && refused;
  ok = ok && cuStreamBeginCapture_v2(stream, 0) == 0 && cuMemsetD32Async(b, 7, 8, stream) == 0 &&
       cuMemcpyDtoHAsync_v2(host, b, 64, stream) == 0 && cuStreamEndCapture(stream, &graph) == 0 &&
       cuGraphInstantiateWithFlags(&exec, graph, 0) == 0;
  ok = ok && host[0] == 0 && host[15] == 15;  // captured, not run
  ok = ok && cuMemcpyHtoDAsync_v2(b, host, 64, stream) == 0 && cuGraphLaunch(exec, stream) == 0 &&
       cuStreamSynchronize(stream) == 0;
  for (int i = 0; ok && i < 16; i++) ok = host[i] == (i < 8 ? 7u : uint32_t(i));
  ok = ok && cuMemcpyHtoDAsync_v2(a, host, 65, stream) == 1;  // past the allocation: refused
  cuMemFreeHost(host);
  cuCtxDestroy_v2(context);
  return ok;
}

int main() {
  {
    std::vector<int> out(4 * 256);
    int* o = out.data();
    bool right = true, wrong = false;
    for (int round = 1; round <= 3; round++) {
      launch<&neighbour<true>>(4, 256, {&round, &o});
      for (int i = 0; i < 4 * 256; i++) {
        right &= out[i] == 1000000 * round + 1000 * (i / 256) + (i + 1) % 256;
      }
    }
    for (int round = 4; round <= 6; round++) {
      launch<&neighbour<false>>(4, 256, {&round, &o});
      for (int i = 0; i < 4 * 256; i++) {
        wrong |= out[i] != 1000000 * round + 1000 * (i / 256) + (i + 1) % 256;
      }
    }
    expect(right, "__syncthreads: every thread reads its neighbour's value of this round");
    expect(wrong, "without the barrier some thread reads a stale value");
  }
  {
    std::vector<float> sums(64);
    std::vector<int> broadcast(64), rotated(64);
    float* s = sums.data();
    int* bc = broadcast.data();
    int* rot = rotated.data();
    launch<&warp_shuffles>(1, 64, {&s, &bc, &rot});
    bool ok = true;
    for (int t = 0; t < 64; t++) {
      ok &= sums[t] == 496.f && broadcast[t] == 50 && rotated[t] == ((t & 31) ^ 1);
    }
    expect(ok, "warp shuffles: xor reduction (496 in every lane), broadcast, pair swap");
  }
  {
    std::vector<float> x(2 * 256), first(512), second(512);
    for (int i = 0; i < 512; i++) x[i] = float(i % 256) + (i >= 256 ? 1000.f : 0.f);
    const float* px = x.data();
    float* f = first.data();
    float* s = second.data();
    launch<&two_block_sums>(2, 256, {&px, &f, &s});
    bool ok = true;
    for (int i = 0; i < 512; i++) {
      float expected = 32640.f + (i >= 256 ? 256000.f : 0.f);
      ok &= first[i] == expected && second[i] == 2 * expected;
    }
    expect(ok, "block_sum over 8 warps, twice in a row, in two blocks");
  }
  {
    std::vector<int> out(4 * 256);
    int* o = out.data();
    std::string error;
    bool ran = launch<&divergent_barrier>(1, 32, {&o}, &error);
    expect(!ran && error.find("deadlock") != std::string::npos,
           "a barrier and a shuffle waiting for each other fail the launch as a deadlock");
    ran = launch<&two_block_sums>(1, 32, {&o, &o, &o});
    expect(ran, "the workers run launches again after a failed one");
  }
  {
    int count[2] = {0, -1};
    float sum = 0.f;
    unsigned votes[32];
    int any_all[32];
    int* c = count;
    float* s = &sum;
    unsigned* v = votes;
    int* aa = any_all;
    launch<&atomics_and_votes>(16, 256, {&c, &s, &v, &aa});
    bool votes_ok = true;
    for (int i = 0; i < 32; i++) votes_ok &= votes[i] == 0xaaaaaaaau && any_all[i] == 3;
    expect(count[0] == 4096 && sum == 2048.f && count[1] == 4095,
           "atomics: 16 blocks of 256 threads on the workers count to 4096, in int and float");
    expect(votes_ok, "warp votes: ballot of the odd lanes, any, all");
  }
  {
    expect(bf16_bits(1.0f + 0x1p-8f) == 0x3f80, "bf16: a tie rounds to the even 1.0");
    expect(bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3f82, "bf16: a tie rounds up to the even 0x3f82");
    expect(bf16_bits(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81, "bf16: above the tie rounds up");
    expect(bf16_bits(-0.0f) == 0x8000, "bf16: -0 keeps its sign");
    expect(bf16_bits(0x1.fffffep127f) == 0x7f80, "bf16: the largest float rounds to infinity");
    uint16_t nan = bf16_bits(std::nanf(""));
    expect((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0, "bf16: NaN stays NaN");
  }
  {
    std::mt19937 random(7);
    std::uniform_int_distribution<int> small(-8, 8);
    std::vector<float> a(256), b(128), c(128);
    for (float& v : a) v = small(random) / 4.f;  // exact in bf16, so the product is exact
    for (float& v : b) v = small(random) / 8.f;
    const float* pa = a.data();
    const float* pb = b.data();
    float* pc = c.data();
    launch<&mma_tile>(1, 32, {&pa, &pb, &pc});
    bool ok = true;
    for (int r = 0; r < 16; r++) {
      for (int n = 0; n < 8; n++) {
        float expected = 0.f;
        for (int k = 0; k < 16; k++) expected += a[r * 16 + k] * b[k * 8 + n];
        ok &= c[r * 8 + n] == expected;
      }
    }
    expect(ok, "mma m16n8k16 bf16: the fragment layout gives A B exactly, C accumulated");
  }
  expect(streams_and_graphs(),
         "driver: pinned memory, async copies, capture (a synchronous copy refused), graph replay");
  std::printf("%s\n", failures == 0 ? "cuda emulator selftest: all passed"
                                    : "cuda emulator selftest: FAILED");
  return failures == 0 ? 0 : 1;
}
