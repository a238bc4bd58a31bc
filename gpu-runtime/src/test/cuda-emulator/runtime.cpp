// Blocks as fibers: each CUDA thread of a block is a fiber with a stack of its own, all of them on
// one worker thread; a fiber runs until it must wait for others (a barrier, a shuffle, an mma) and
// then hands over to the next one, round robin. Nothing is preemptive, so between two such points
// a thread's code runs alone, which the kernels cannot tell from parallel execution as long as they
// synchronize as CUDA requires; where they don't (a missing __syncthreads), the order here differs
// from the one their author assumed and the result is wrong, as it may be on the device.
#include "runtime.h"

#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define LS_EMU_ASAN 1
#endif

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

// Saves the callee-saved registers and the SSE/x87 control words on the current stack, stores the
// stack pointer in *save and continues on the stack `to` (System V x86-64).
extern "C" void ls_emu_switch(void** save, void* to);
// A new fiber's first return address: calls r13(r12) on the fresh stack.
extern "C" void ls_emu_start();
asm(R"(
  .text
  .globl ls_emu_switch
  .hidden ls_emu_switch
  .type ls_emu_switch, @function
ls_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ls_emu_switch, .-ls_emu_switch

  .globl ls_emu_start
  .hidden ls_emu_start
  .type ls_emu_start, @function
ls_emu_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size ls_emu_start, .-ls_emu_start
)");

namespace ls_emu {

namespace {

std::map<std::string, Kernel>& registry() {
  static std::map<std::string, Kernel> kernels;
  return kernels;
}

constexpr size_t kPage = 4096;
constexpr int kMaxThreads = 1024;

// A fiber's memory, kStackBytes aligned to kStackBytes: its ThreadSlot in the first page, a guard
// page (a stack overflow faults instead of overwriting the slot), then the stack, growing down.
struct Fiber {
  char* region = nullptr;
  ThreadSlot* slot = nullptr;
  char* stack = nullptr;  // the stack's lowest byte
  size_t stack_bytes = 0;
  void* sp = nullptr;
  Fiber* next = nullptr;  // the ring of live fibers
  Fiber* prev = nullptr;
};

// What the lanes of one warp share while they synchronize. An exchange needs one barrier, not two:
// its slots alternate between two buffers, and a lane can only come back to a buffer after the
// next exchange's barrier, which every lane passes only once it has read this one.
struct Warp {
  int live = 0;
  int arrived = 0;
  unsigned generation = 0;
  uint64_t offered[2][32];
  uint32_t a[2][32][4];
  uint32_t b[2][32][2];
  float product[2][16][8];  // A B of an mma, computed once by the first lane past the barrier
  unsigned product_of[2] = {~0u, ~0u};  // the barrier generation each product belongs to
};

// Raised inside a fiber to abandon the block: control returns to the worker, never to the fiber.
struct Abandon {};

class Block {
 public:
  Block() {
#ifdef LS_EMU_ASAN
    pthread_attr_t attr;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstack(&attr, &main_stack_, &main_stack_size_);
    pthread_attr_destroy(&attr);
#endif
  }

  ~Block() {
    for (Fiber& f : fibers_) {
      if (f.region) munmap(f.region, kStackBytes);
    }
  }

  // Runs every thread of block `index` to its end; false with error_ set when it could not.
  bool run(const Kernel& kernel, void** params, Dim index, Dim dim, Dim grid) {
    kernel_ = &kernel;
    params_ = params;
    slot_ = BlockSlot{index, dim, grid};
    int n = int(dim.x * dim.y * dim.z);
    if (n < 1 || n > kMaxThreads) return fail("a block of " + std::to_string(n) + " threads");
    int warps = (n + 31) / 32;
    warps_.assign(warps, Warp{});
    live_ = n;
    arrived_ = 0;
    stalled_ = 0;
    error_.clear();
    for (int i = 0; i < n; i++) {
      Fiber& f = fiber(i);
      *f.slot = ThreadSlot{Dim{unsigned(i) % dim.x, unsigned(i) / dim.x % dim.y,
                               unsigned(i) / (dim.x * dim.y)},
                           &slot_, this, i / 32, i % 32, 0};
      warps_[i / 32].live++;
      f.next = &fiber((i + 1) % n);
      f.prev = &fiber((i + n - 1) % n);
      prepare(f);
    }
    running_ = &fiber(0);
    switch_to(&main_sp_, running_, true);
    return error_.empty();
  }

  const std::string& error() const { return error_; }

  // __syncthreads: waits until every live thread of the block has arrived.
  void sync_block() {
    unsigned generation = generation_;
    if (++arrived_ == live_) {
      release_block();
      return;
    }
    progress();
    while (generation_ == generation) wait("__syncthreads");
  }

  // Waits until every live lane of the calling thread's warp has arrived.
  void sync_warp(Warp& w, const char* what) {
    unsigned generation = w.generation;
    if (++w.arrived == w.live) {
      release(w);
      return;
    }
    progress();
    while (w.generation == generation) wait(what);
  }

  Warp& warp(const ThreadSlot* thread) { return warps_[thread->warp]; }

  [[noreturn]] void abandon(const std::string& why) {
    fail(why);
    throw Abandon{};
  }

 private:
  Fiber& fiber(int i) {
    if (fibers_.empty()) fibers_.resize(kMaxThreads);
    Fiber& f = fibers_[i];
    if (!f.region) {
      // Twice the size, then the aligned part kept.
      void* m = mmap(nullptr, 2 * kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) {
        std::fprintf(stderr, "cuda emulator: no memory for a fiber stack\n");
        std::abort();
      }
      uintptr_t start = reinterpret_cast<uintptr_t>(m);
      uintptr_t aligned = (start + kStackBytes - 1) & ~(kStackBytes - 1);
      if (aligned > start) munmap(m, aligned - start);
      if (aligned + kStackBytes < start + 2 * kStackBytes) {
        munmap(reinterpret_cast<void*>(aligned + kStackBytes), start + kStackBytes - aligned);
      }
      f.region = reinterpret_cast<char*>(aligned);
      mprotect(f.region + kPage, kPage, PROT_NONE);
      f.slot = reinterpret_cast<ThreadSlot*>(f.region);
      f.stack = f.region + 2 * kPage;
      f.stack_bytes = kStackBytes - 2 * kPage;
    }
    return f;
  }

  // A fresh stack whose first switch "returns" into ls_emu_start, which calls entry(this).
  void prepare(Fiber& f) {
    uintptr_t top = reinterpret_cast<uintptr_t>(f.stack) + f.stack_bytes;
    uint64_t* sp = reinterpret_cast<uint64_t*>(top) - 8;
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    sp[0] = uint64_t(mxcsr) | (uint64_t(fpucw) << 32);
    sp[1] = 0;                                           // r15
    sp[2] = 0;                                           // r14
    sp[3] = reinterpret_cast<uint64_t>(&Block::entry);  // r13: what ls_emu_start calls
    sp[4] = reinterpret_cast<uint64_t>(this);           // r12: its argument
    sp[5] = 0;                                           // rbx
    sp[6] = 0;                                           // rbp
    sp[7] = reinterpret_cast<uint64_t>(&ls_emu_start);  // where the switch returns to
    f.sp = sp;
  }

  static void entry(Block* self) {
#ifdef LS_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    self->thread_main();
  }

  void thread_main() {
    Fiber* me = running_;
    try {
      kernel_->invoke(params_);
    } catch (const Abandon&) {
      // The block failed (deadlock, something not emulated): back to the worker for good.
      switch_to(&me->sp, nullptr, false);
    }
    finish(me);
  }

  // The calling thread has returned from the kernel: it leaves the ring and every barrier count.
  [[noreturn]] void finish(Fiber* me) {
    Warp& w = warps_[me->slot->warp];
    live_--;
    w.live--;
    progress();
    if (arrived_ > 0 && arrived_ == live_) release_block();
    if (w.arrived > 0 && w.arrived == w.live) release(w);
    Fiber* next = live_ == 0 ? nullptr : me->next;
    me->prev->next = me->next;
    me->next->prev = me->prev;
    switch_to(&me->sp, next, false);
    __builtin_unreachable();
  }

  void release_block() {
    arrived_ = 0;
    generation_++;
    progress();
  }

  void release(Warp& w) {
    w.arrived = 0;
    w.generation++;
    progress();
  }

  void progress() { stalled_ = 0; }

  // Hands over to the next live fiber. When every live fiber has looked once in vain, none can
  // ever proceed: the block is deadlocked.
  void wait(const char* what) {
    if (++stalled_ > live_ + 1) {
      abandon(std::string("deadlock: threads wait in ") + what +
              " for threads that never arrive (a barrier or shuffle in divergent code?)");
    }
    Fiber* me = running_;
    if (me->next != me) switch_to(&me->sp, me->next, true);
  }

  // Saves the running context in *save and continues `to` (the worker's context when null). A
  // fiber that will not be resumed passes resumable false.
  void switch_to(void** save, Fiber* to, bool resumable) {
    void* target = to ? to->sp : main_sp_;
    running_ = to;
#ifdef LS_EMU_ASAN
    void* fake = nullptr;
    if (to) {
      __sanitizer_start_switch_fiber(resumable ? &fake : nullptr, to->stack, to->stack_bytes);
    } else {
      __sanitizer_start_switch_fiber(resumable ? &fake : nullptr, main_stack_, main_stack_size_);
    }
    ls_emu_switch(save, target);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    (void)resumable;
    ls_emu_switch(save, target);
#endif
  }

  bool fail(const std::string& why) {
    if (error_.empty()) {
      error_ = why + " (block " + std::to_string(slot_.block_idx.x) + "," +
               std::to_string(slot_.block_idx.y) + "," + std::to_string(slot_.block_idx.z) + ")";
    }
    return false;
  }

  std::vector<Fiber> fibers_;
  std::vector<Warp> warps_;
  const Kernel* kernel_ = nullptr;
  void** params_ = nullptr;
  BlockSlot slot_{};
  Fiber* running_ = nullptr;
  void* main_sp_ = nullptr;
  int live_ = 0;
  int arrived_ = 0;
  unsigned generation_ = 0;
  int stalled_ = 0;
  std::string error_;
#ifdef LS_EMU_ASAN
  void* main_stack_ = nullptr;
  size_t main_stack_size_ = 0;
#endif
};

// The block the calling fiber belongs to.
Block& running_block() { return *static_cast<Block*>(self()->owner); }

// Worker threads that run a grid's blocks; the caller waits. Native threads of their own: the
// fibers' stacks are not the JVM's, so no Java thread ever runs on them.
class Workers {
 public:
  Workers() {
#ifdef LS_EMU_SERIAL_BLOCKS
    int n = 1;
#else
    const char* env = std::getenv("LS_CUDA_EMULATOR_THREADS");
    int n = env ? std::atoi(env) : int(std::thread::hardware_concurrency());
    if (n < 1) n = 1;
    if (n > 8) n = 8;
#endif
    for (int i = 0; i < n; i++) threads_.emplace_back([this] { loop(); });
  }

  ~Workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  bool run(const Kernel& kernel, void** params, Dim grid, Dim dim, std::string& error) {
    std::unique_lock<std::mutex> lock(mutex_);
    kernel_ = &kernel;
    params_ = params;
    grid_ = grid;
    dim_ = dim;
    total_ = uint64_t(grid.x) * grid.y * grid.z;
    next_.store(0);
    unfinished_ = int(threads_.size());
    error_.clear();
    round_++;
    wake_.notify_all();
    done_.wait(lock, [this] { return unfinished_ == 0; });
    error = error_;
    return error_.empty();
  }

 private:
  void loop() {
    Block mine;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || round_ != seen; });
      if (stopping_) return;
      seen = round_;
      lock.unlock();
      std::string failure;
      for (uint64_t b; failure.empty() && (b = next_.fetch_add(1)) < total_;) {
        Dim index{unsigned(b % grid_.x), unsigned(b / grid_.x % grid_.y),
                  unsigned(b / (uint64_t(grid_.x) * grid_.y))};
        if (!mine.run(*kernel_, params_, index, dim_, grid_)) {
          failure = mine.error();
          next_.store(total_);  // the launch has failed: the other workers stop too
        }
      }
      lock.lock();
      if (!failure.empty() && error_.empty()) error_ = failure;
      if (--unfinished_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  bool stopping_ = false;
  uint64_t round_ = 0;
  int unfinished_ = 0;
  const Kernel* kernel_ = nullptr;
  void** params_ = nullptr;
  Dim grid_{}, dim_{};
  uint64_t total_ = 0;
  std::atomic<uint64_t> next_{0};
  std::string error_;
};

// The bf16 in half `half` (0: the low 16 bits, the lower index) of a packed pair, as a float.
float element(uint32_t pair, int half) {
  return ls_emu_bit_cast<float>((half ? pair >> 16 : pair & 0xffffu) << 16);
}

}  // namespace

Registration::Registration(const char* name, void (*invoke)(void**), std::vector<size_t> sizes) {
  registry()[name] = Kernel{name, invoke, std::move(sizes)};
}

const Kernel* find_kernel(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

bool run_grid(const Kernel& kernel, void** params, Dim grid, Dim dim, std::string& error) {
  static Workers workers;  // one launch at a time: the driver serializes them
  return workers.run(kernel, params, grid, dim, error);
}

void sync_block() { running_block().sync_block(); }

uint64_t exchange(unsigned mask, uint64_t value, int source) {
  ThreadSlot* me = self();
  Block& b = *static_cast<Block*>(me->owner);
  Warp& w = b.warp(me);
  if (mask != 0xffffffffu) b.abandon("a shuffle with a partial mask (not emulated)");
  int k = me->buffer ^= 1;
  w.offered[k][me->lane] = value;
  b.sync_warp(w, "a shuffle");
  return source >= 0 && source < 32 ? w.offered[k][source] : value;
}

void sync_warp() {
  ThreadSlot* me = self();
  Block& b = *static_cast<Block*>(me->owner);
  b.sync_warp(b.warp(me), "__syncwarp");
}

unsigned ballot(unsigned mask, bool predicate) {
  ThreadSlot* me = self();
  Block& b = *static_cast<Block*>(me->owner);
  Warp& w = b.warp(me);
  if (mask != 0xffffffffu) b.abandon("a ballot with a partial mask (not emulated)");
  int k = me->buffer ^= 1;
  w.offered[k][me->lane] = predicate ? 1 : 0;
  b.sync_warp(w, "a ballot");
  unsigned bits = 0;
  for (int lane = 0; lane < 32; lane++) bits |= unsigned(w.offered[k][lane] & 1) << lane;
  return bits;
}

// PTX ISA, mma.m16n8k16 with .bf16 inputs: with g = lane / 4 and t = lane % 4, lane holds
//   A (16x16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16x8, column):     b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C (16x8, fp32):       c0, c1 = (g, 2t..2t+1), c2, c3 = (g+8, 2t..2t+1)
// each 32-bit register holding the element of the lower index in its low half.
void mma_m16n8k16_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  ThreadSlot* self_ = self();
  Block& b = *static_cast<Block*>(self_->owner);
  Warp& w = b.warp(self_);
  if (w.live != 32) b.abandon("mma.sync with fewer than 32 live lanes");
  int me = self_->lane, buffer = self_->buffer ^= 1;
  std::memcpy(w.a[buffer][me], a, sizeof(w.a[buffer][me]));
  w.b[buffer][me][0] = b0;
  w.b[buffer][me][1] = b1;
  b.sync_warp(w, "mma.sync");
  if (w.product_of[buffer] != w.generation) {
    w.product_of[buffer] = w.generation;
    const uint32_t(*fa)[4] = w.a[buffer];
    const uint32_t(*fb)[2] = w.b[buffer];
    float x[16][16], y[16][8];
    for (int row = 0; row < 16; row++) {
      for (int k = 0; k < 16; k++) {
        x[row][k] = element(fa[(row % 8) * 4 + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)], k & 1);
      }
    }
    for (int k = 0; k < 16; k++) {
      for (int col = 0; col < 8; col++) y[k][col] = element(fb[col * 4 + (k % 8) / 2][k >= 8], k & 1);
    }
    for (int row = 0; row < 16; row++) {
      for (int col = 0; col < 8; col++) {
        float sum = 0.f;  // bf16 x bf16 products are exact in fp32
        for (int k = 0; k < 16; k++) sum += x[row][k] * y[k][col];
        w.product[buffer][row][col] = sum;
      }
    }
  }
  int g = me >> 2, t = me & 3;
  for (int i = 0; i < 4; i++) c[i] += w.product[buffer][g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)];
}

}  // namespace ls_emu
