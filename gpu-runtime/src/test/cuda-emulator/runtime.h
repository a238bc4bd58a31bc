// The emulated device's execution engine: a launch runs its grid's blocks on a few worker threads,
// each block's CUDA threads as fibers of one worker (cooperative, switched only at barriers,
// shuffles and mma, where a real warp or block synchronizes too).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ls_cuda_emulator.h"

namespace ls_emu {

// A kernel compiled for the CPU: calls it as one thread, its arguments unpacked from `params`
// (pointers to each argument's value, as cuLaunchKernel's kernelParams).
struct Kernel {
  const char* name;
  void (*invoke)(void** params);
  std::vector<size_t> param_sizes;  // sizeof each declared parameter, in order
};

const Kernel* find_kernel(const std::string& name);

// Adds a kernel to the registry (kernels.cpp, generated, registers every extern "C" kernel).
struct Registration {
  Registration(const char* name, void (*invoke)(void**), std::vector<size_t> sizes);
};

template <class... A, size_t... I>
void call(void (*fn)(A...), void** params, std::index_sequence<I...>) {
  fn(*static_cast<std::remove_reference_t<A>*>(params[I])...);
}

template <class... A>
void call(void (*fn)(A...), void** params) {
  call(fn, params, std::index_sequence_for<A...>{});
}

template <auto F>
void invoke(void** params) {
  call(F, params);
}

template <class... A>
std::vector<size_t> sizes_of(void (*)(A...)) {
  return {sizeof(A)...};
}

// Runs grid x block threads of `kernel`; false with `error` set when a block deadlocked (threads
// waiting at a barrier or shuffle that others never reach) or used what is not emulated.
bool run_grid(const Kernel& kernel, void** params, Dim grid, Dim block, std::string& error);

}  // namespace ls_emu

// Registers kernel NAME of the namespace NS (each .cu file is compiled inside its own namespace).
#define LS_EMU_REGISTER(NS, NAME)                                 \
  static ::ls_emu::Registration ls_emu_registration_##NAME(#NAME, \
                                                          &::ls_emu::invoke<&NS::NAME>, \
                                                          ::ls_emu::sizes_of(&NS::NAME))
