// The device side of the CPU-emulated CUDA device: what the kernel sources (src/main/cuda/*.cu)
// expect from nvcc, for g++. The emulator's build force-includes it before each .cu file.
//
// Every CUDA thread is a fiber of its block's worker thread (fiber.h), so that __syncthreads waits
// for the whole block and a shuffle for the whole warp, as on the device: a kernel whose result
// depends on a missing barrier or on warp-synchronous exchange gives a wrong answer here too.
#pragma once
#include <cuda_bf16.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define LS_CUDA_EMULATOR 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))

// __shared__ variables are block-scope statics: one copy per worker thread, each worker running
// one block at a time. The AddressSanitizer build runs one block at a time on one worker and
// makes them plain statics instead, which ASan surrounds with redzones (it cannot guard
// thread_local arrays).
#ifdef LS_EMU_SERIAL_BLOCKS
#define __shared__ static
#else
#define __shared__ static thread_local
#endif

namespace ls_emu {

struct Dim {
  unsigned x, y, z;
};

struct BlockSlot {
  Dim block_idx, block_dim, grid_dim;
};

// Fiber stacks are kStackBytes long and aligned to it, and each begins with its thread's slot:
// the running thread finds its own from the stack pointer, without thread-local storage.
#ifdef __SANITIZE_ADDRESS__
constexpr uintptr_t kStackBytes = 512 * 1024;  // ASan's redzones make frames several times larger
#else
constexpr uintptr_t kStackBytes = 64 * 1024;
#endif

struct ThreadSlot {
  Dim thread_idx;
  const BlockSlot* block;
  void* owner;     // the runtime's block (runtime.cpp)
  int warp;        // the thread's warp in the block
  int lane;        // and its lane in the warp
  int buffer;      // which of its warp's two exchange buffers the thread used last
};

inline ThreadSlot* self() {
  uintptr_t sp;
  asm("movq %%rsp, %0" : "=r"(sp));
  return reinterpret_cast<ThreadSlot*>(sp & ~(kStackBytes - 1));
}

// Waits for every live thread of the block (exited threads no longer count, as on sm_70+).
void sync_block();

// Warp-synchronous exchange: every live lane of the calling warp offers `value` and gets the value
// that lane `source` offered (its own when `source` is out of range). `mask` must be the full warp.
uint64_t exchange(unsigned mask, uint64_t value, int source);

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 for the calling warp: each lane offers its
// fragments and gets its own part of C += A B (fragment layouts of the PTX ISA).
void mma_m16n8k16_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);

// Waits for every live lane of the calling warp (__syncwarp).
void sync_warp();

// The predicate of every live lane of the calling warp, lane i in bit i (__ballot_sync).
unsigned ballot(unsigned mask, bool predicate);

template <class T>
T shuffle(unsigned mask, T value, int source) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = exchange(mask, bits, source);
  T result;
  std::memcpy(&result, &bits, sizeof(T));
  return result;
}

inline int lane() { return self()->lane; }

}  // namespace ls_emu

#define threadIdx (::ls_emu::self()->thread_idx)
#define blockIdx (::ls_emu::self()->block->block_idx)
#define blockDim (::ls_emu::self()->block->block_dim)
#define gridDim (::ls_emu::self()->block->grid_dim)

inline void __syncthreads() { ls_emu::sync_block(); }

template <class T>
T __shfl_sync(unsigned mask, T value, int source, int width = 32) {
  int base = ls_emu::lane() & ~(width - 1);
  return ls_emu::shuffle(mask, value, base + (source & (width - 1)));
}

template <class T>
T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = 32) {
  int lane = ls_emu::lane(), target = lane ^ laneMask;
  // Beyond the lane's own group of `width` lanes the lane keeps its value, as on the device.
  return ls_emu::shuffle(mask, value, (target & ~(width - 1)) == (lane & ~(width - 1)) ? target : lane);
}

inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)mask;
  ls_emu::sync_warp();
}

inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return ls_emu::ballot(mask, predicate != 0);
}

inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }

inline int __all_sync(unsigned mask, int predicate) {
  return __ballot_sync(mask, predicate) == __ballot_sync(mask, 1);
}

// Atomics: blocks run in parallel on the worker threads, so these are the CPU's atomics (a fiber
// is never switched inside one).
template <class T>
T atomicAdd(T* address, T value) {
  if constexpr (std::is_floating_point_v<T>) {
    T seen, next;
    __atomic_load(address, &seen, __ATOMIC_RELAXED);
    do {
      next = seen + value;
    } while (!__atomic_compare_exchange(address, &seen, &next, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED));
    return seen;
  } else {
    return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST);
  }
}

template <class T>
T atomicMax(T* address, T value) {
  T seen = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (seen < value && !__atomic_compare_exchange_n(address, &seen, value, false,
                                                      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return seen;
}

template <class T>
T atomicMin(T* address, T value) {
  T seen = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (value < seen && !__atomic_compare_exchange_n(address, &seen, value, false,
                                                      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return seen;
}

template <class T>
T atomicExch(T* address, T value) {
  return __atomic_exchange_n(address, value, __ATOMIC_SEQ_CST);
}

template <class T>
T atomicCAS(T* address, T compare, T value) {
  __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;  // the old value, whether or not it was swapped
}

// The fast-math intrinsics, computed with the CPU's exact functions (the device's are
// approximations within a few ulp: the tolerances cover both).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

inline unsigned __umulhi(unsigned a, unsigned b) {
  return unsigned((uint64_t(a) * uint64_t(b)) >> 32);
}

inline float __int_as_float(int bits) { return ls_emu_bit_cast<float>(bits); }
inline float __uint_as_float(unsigned bits) { return ls_emu_bit_cast<float>(bits); }
inline int __float_as_int(float f) { return ls_emu_bit_cast<int>(f); }
inline double __longlong_as_double(long long bits) { return ls_emu_bit_cast<double>(bits); }

// CUDA's integer min and max overloads; float ones come from <cmath> (fminf, fmaxf).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

// The kernels' one piece of inline PTX (mma.cuh leaves it out when LS_CUDA_EMULATOR is defined).
inline void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  ls_emu::mma_m16n8k16_bf16(c, a, b0, b1);
}
