// The CUDA driver API of the emulated device, as libcuda.so.1 exports it: what JCuda's
// libJCudaDriver calls on behalf of CudaDevice. One device, named so that no figure taken on it can
// pass for a GPU's; device memory is host memory; every stream is executed in order at the call
// (the device's semantics for one stream, and for several streams a legal schedule), so events
// time the calls themselves. Graph capture records launches, async copies and memsets and replays
// them. Calls that the real driver refuses while a stream captures are refused here too, and a
// failed launch leaves the context's error sticky, as on a GPU. Every other cu* symbol JCuda links
// is a generated stub answering CUDA_ERROR_NOT_SUPPORTED (stubs.c, made by build.sh).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "runtime.h"

namespace {

enum Result : int {
  SUCCESS = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NOT_INITIALIZED = 3,
  INVALID_DEVICE = 101,
  INVALID_IMAGE = 200,
  INVALID_CONTEXT = 201,
  INVALID_HANDLE = 400,
  NOT_FOUND = 500,
  LAUNCH_OUT_OF_RESOURCES = 701,
  LAUNCH_FAILED = 719,
  NOT_SUPPORTED = 801,
  STREAM_CAPTURE_UNSUPPORTED = 900,
  STREAM_CAPTURE_INVALIDATED = 901,
  STREAM_CAPTURE_IMPLICIT = 906,
};

constexpr const char* kDeviceName = "latentstream CUDA emulator (CPU, not a GPU)";
constexpr int kDriverVersion = 12000;
constexpr size_t kTotalMemory = size_t(16) << 30;

using Op = std::function<Result()>;

struct Graph {
  std::vector<Op> ops;
};

struct Stream {
  Graph* capture = nullptr;  // the graph being captured, while it is
  bool invalidated = false;  // a refused call ended the capture's validity
};

struct Event {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};

struct Module {
  std::map<std::string, std::vector<size_t>> entries;  // PTX entry: its parameters' sizes
};

struct Function {
  const ls_emu::Kernel* kernel;
};

struct Context {
  Result sticky = SUCCESS;  // a failed launch poisons the context, as on the device
  std::map<uintptr_t, size_t> allocations;
  size_t allocated = 0;
  std::set<Stream*> streams;
};

std::mutex api;  // the driver is thread-safe; the emulator simply serializes calls
bool initialized = false;
thread_local Context* current = nullptr;
std::set<Context*> contexts;
Stream legacy;  // stream 0, the legacy default stream

Stream* stream_of(void* handle) {
  return handle == nullptr || handle == reinterpret_cast<void*>(1) ||
                 handle == reinterpret_cast<void*>(2)
             ? &legacy
             : static_cast<Stream*>(handle);
}

// The stream under capture, if any: the legacy stream's calls would have to wait for it, which
// the real driver refuses (CUDA_ERROR_STREAM_CAPTURE_IMPLICIT) and which invalidates the capture.
Stream* capturing() {
  if (!current) return nullptr;
  for (Stream* s : current->streams) {
    if (s->capture) return s;
  }
  return nullptr;
}

Result check_context() {
  if (!initialized) return NOT_INITIALIZED;
  if (!current) return INVALID_CONTEXT;
  return current->sticky;
}

// Whether [p, p + n) lies inside one allocation of the current context.
bool device_range(uintptr_t p, size_t n) {
  auto it = current->allocations.upper_bound(p);
  if (it == current->allocations.begin()) return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second;
}

// Runs op now on `stream`, or records it into the stream's capture. A synchronous call (legacy
// stream) while another stream captures is refused and invalidates that capture.
Result submit(void* handle, Op op) {
  if (Result r = check_context()) return r;
  Stream* s = stream_of(handle);
  if (s->capture) {
    s->capture->ops.push_back(std::move(op));
    return SUCCESS;
  }
  if (s == &legacy) {
    if (Stream* c = capturing()) {
      c->invalidated = true;
      return STREAM_CAPTURE_IMPLICIT;
    }
  }
  return op();
}

Result copy(uintptr_t dst, bool dst_device, uintptr_t src, bool src_device, size_t n, void* stream) {
  if (Result r = check_context()) return r;
  if ((dst_device && !device_range(dst, n)) || (src_device && !device_range(src, n))) {
    return INVALID_VALUE;
  }
  return submit(stream, [dst, src, n] {
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
    return SUCCESS;
  });
}

template <class T>
Result fill(uintptr_t dst, T value, size_t count, void* stream) {
  if (Result r = check_context()) return r;
  if (!device_range(dst, count * sizeof(T))) return INVALID_VALUE;
  return submit(stream, [dst, value, count] {
    T* p = reinterpret_cast<T*>(dst);
    for (size_t i = 0; i < count; i++) p[i] = value;
    return SUCCESS;
  });
}

// The parameter sizes of every .entry of a PTX text, as PtxSignatures reads them.
bool parse_ptx(const char* text, Module& module) {
  static const std::regex entry(R"(\.entry\s+(\w+)\s*\(([^)]*)\))");
  static const std::regex param(R"(\.param\s+\.(\w+)\s+\w+)");
  std::string ptx(text);
  for (std::sregex_iterator e(ptx.begin(), ptx.end(), entry), end; e != end; ++e) {
    std::vector<size_t> sizes;
    std::string list = (*e)[2];
    for (std::sregex_iterator p(list.begin(), list.end(), param); p != end; ++p) {
      std::string type = (*p)[1];
      int bits = std::atoi(type.c_str() + 1);
      if (bits == 0) return false;  // an aligned byte array: a struct argument, not used here
      sizes.push_back(size_t(bits / 8));
    }
    module.entries[(*e)[1]] = sizes;
  }
  return !module.entries.empty();
}

}  // namespace

extern "C" {

// ---- initialization, device, context -----------------------------------------------------------

int cuInit(unsigned flags) {
  std::lock_guard<std::mutex> lock(api);
  if (flags != 0) return INVALID_VALUE;
  initialized = true;
  return SUCCESS;
}

int cuDriverGetVersion(int* version) {
  if (!version) return INVALID_VALUE;
  *version = kDriverVersion;
  return SUCCESS;
}

int cuDeviceGetCount(int* count) {
  if (!initialized) return NOT_INITIALIZED;
  if (!count) return INVALID_VALUE;
  *count = 1;
  return SUCCESS;
}

int cuDeviceGet(int* device, int ordinal) {
  if (!initialized) return NOT_INITIALIZED;
  if (ordinal != 0) return INVALID_DEVICE;
  *device = 0;
  return SUCCESS;
}

int cuDeviceGetName(char* name, int length, int device) {
  if (!initialized) return NOT_INITIALIZED;
  if (device != 0) return INVALID_DEVICE;
  if (!name || length <= 0) return INVALID_VALUE;
  std::snprintf(name, size_t(length), "%s", kDeviceName);
  return SUCCESS;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device) {
  if (!initialized) return NOT_INITIALIZED;
  if (device != 0) return INVALID_DEVICE;
  *bytes = kTotalMemory;
  return SUCCESS;
}

int cuCtxCreate_v2(void** context, unsigned flags, int device) {
  std::lock_guard<std::mutex> lock(api);
  if (!initialized) return NOT_INITIALIZED;
  if (device != 0) return INVALID_DEVICE;
  (void)flags;
  Context* c = new Context();
  contexts.insert(c);
  current = c;
  *context = c;
  return SUCCESS;
}

int cuCtxDestroy_v2(void* context) {
  std::lock_guard<std::mutex> lock(api);
  Context* c = static_cast<Context*>(context);
  if (!contexts.count(c)) return INVALID_CONTEXT;
  for (auto& a : c->allocations) std::free(reinterpret_cast<void*>(a.first));
  for (Stream* s : c->streams) delete s;
  contexts.erase(c);
  if (current == c) current = nullptr;
  delete c;
  return SUCCESS;
}

int cuCtxSetCurrent(void* context) {
  std::lock_guard<std::mutex> lock(api);
  Context* c = static_cast<Context*>(context);
  if (c && !contexts.count(c)) return INVALID_CONTEXT;
  current = c;
  return SUCCESS;
}

int cuCtxGetCurrent(void** context) {
  *context = current;
  return SUCCESS;
}

int cuCtxSynchronize() {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  if (Stream* c = capturing()) {
    c->invalidated = true;
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  return SUCCESS;  // everything ran at its call
}

// ---- memory ------------------------------------------------------------------------------------

int cuMemAlloc_v2(unsigned long long* pointer, size_t bytes) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  if (bytes == 0) return INVALID_VALUE;
  if (capturing()) return STREAM_CAPTURE_UNSUPPORTED;
  // 256-byte aligned as cudaMalloc's; the size rounded up only for aligned_alloc's sake, the
  // recorded size is what was asked for (copies past it are refused).
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) return OUT_OF_MEMORY;
  current->allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  current->allocated += bytes;
  *pointer = reinterpret_cast<uintptr_t>(p);
  return SUCCESS;
}

int cuMemFree_v2(unsigned long long pointer) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  auto it = current->allocations.find(pointer);
  if (it == current->allocations.end()) return INVALID_VALUE;
  current->allocated -= it->second;
  current->allocations.erase(it);
  std::free(reinterpret_cast<void*>(pointer));
  return SUCCESS;
}

int cuMemGetInfo_v2(size_t* free, size_t* total) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  *total = kTotalMemory;
  *free = kTotalMemory > current->allocated ? kTotalMemory - current->allocated : 0;
  return SUCCESS;
}

// Pinned host memory is host memory.
int cuMemAllocHost_v2(void** pointer, size_t bytes) {
  *pointer = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  return *pointer ? SUCCESS : OUT_OF_MEMORY;
}

int cuMemHostAlloc(void** pointer, size_t bytes, unsigned flags) {
  (void)flags;
  return cuMemAllocHost_v2(pointer, bytes);
}

int cuMemFreeHost(void* pointer) {
  std::free(pointer);
  return SUCCESS;
}

int cuMemcpyHtoD_v2(unsigned long long dst, const void* src, size_t n) {
  std::lock_guard<std::mutex> lock(api);
  return copy(dst, true, reinterpret_cast<uintptr_t>(src), false, n, nullptr);
}

int cuMemcpyDtoH_v2(void* dst, unsigned long long src, size_t n) {
  std::lock_guard<std::mutex> lock(api);
  return copy(reinterpret_cast<uintptr_t>(dst), false, src, true, n, nullptr);
}

int cuMemcpyDtoD_v2(unsigned long long dst, unsigned long long src, size_t n) {
  std::lock_guard<std::mutex> lock(api);
  return copy(dst, true, src, true, n, nullptr);
}

int cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t n, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  return copy(dst, true, reinterpret_cast<uintptr_t>(src), false, n, stream);
}

int cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t n, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  return copy(reinterpret_cast<uintptr_t>(dst), false, src, true, n, stream);
}

int cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t n, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  return copy(dst, true, src, true, n, stream);
}

int cuMemsetD8_v2(unsigned long long dst, unsigned char value, size_t n) {
  std::lock_guard<std::mutex> lock(api);
  return fill<unsigned char>(dst, value, n, nullptr);
}

int cuMemsetD32_v2(unsigned long long dst, unsigned value, size_t n) {
  std::lock_guard<std::mutex> lock(api);
  return fill<unsigned>(dst, value, n, nullptr);
}

int cuMemsetD8Async(unsigned long long dst, unsigned char value, size_t n, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  return fill<unsigned char>(dst, value, n, stream);
}

int cuMemsetD32Async(unsigned long long dst, unsigned value, size_t n, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  return fill<unsigned>(dst, value, n, stream);
}

// ---- modules and launches ----------------------------------------------------------------------

int cuModuleLoadData(void** module, const void* image) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  auto m = std::make_unique<Module>();
  if (!image || !parse_ptx(static_cast<const char*>(image), *m)) return INVALID_IMAGE;
  *module = m.release();
  return SUCCESS;
}

int cuModuleLoadDataEx(void** module, const void* image, unsigned options, void* keys,
                       void** values) {
  (void)options;
  (void)keys;
  (void)values;
  return cuModuleLoadData(module, image);
}

int cuModuleUnload(void* module) {
  delete static_cast<Module*>(module);
  return SUCCESS;
}

// The CPU build of the PTX entry `name`, once its parameters are known to be the PTX's.
int cuModuleGetFunction(void** function, void* module, const char* name) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  Module* m = static_cast<Module*>(module);
  if (!m || !name) return INVALID_HANDLE;
  auto entry = m->entries.find(name);
  if (entry == m->entries.end()) return NOT_FOUND;
  const ls_emu::Kernel* k = ls_emu::find_kernel(name);
  if (!k) {
    std::fprintf(stderr, "cuda emulator: the PTX's kernel %s has no CPU build\n", name);
    return NOT_FOUND;
  }
  if (k->param_sizes != entry->second) {
    std::fprintf(stderr, "cuda emulator: %s: the CPU build's parameters differ from the PTX's\n",
                 name);
    return INVALID_IMAGE;
  }
  *function = new Function{k};
  return SUCCESS;
}

int cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shared, void* stream, void** params, void** extra) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  const ls_emu::Kernel* k = function ? static_cast<Function*>(function)->kernel : nullptr;
  if (!k || !params || extra) return INVALID_VALUE;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 ||
      uint64_t(bx) * by * bz > 1024) {
    return INVALID_VALUE;
  }
  if (shared != 0) return LAUNCH_OUT_OF_RESOURCES;  // no kernel uses dynamic shared memory
  // The arguments are taken now, as the driver does: a graph replays these values.
  auto values = std::make_shared<std::vector<uint64_t>>();
  std::vector<size_t> offsets;
  for (size_t i = 0; i < k->param_sizes.size(); i++) {
    offsets.push_back(values->size());
    values->resize(values->size() + (k->param_sizes[i] + 7) / 8);
  }
  for (size_t i = 0; i < k->param_sizes.size(); i++) {
    std::memcpy(values->data() + offsets[i], params[i], k->param_sizes[i]);
  }
  ls_emu::Dim grid{gx, gy, gz}, block{bx, by, bz};
  return submit(stream, [k, values, offsets, grid, block] {
    std::vector<void*> args;
    for (size_t o : offsets) args.push_back(values->data() + o);
    std::string error;
    if (ls_emu::run_grid(*k, args.data(), grid, block, error)) return SUCCESS;
    std::fprintf(stderr, "cuda emulator: %s failed: %s\n", k->name, error.c_str());
    current->sticky = LAUNCH_FAILED;
    return LAUNCH_FAILED;
  });
}

// ---- streams, events, graphs -------------------------------------------------------------------

int cuStreamCreate(void** stream, unsigned flags) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  (void)flags;
  Stream* s = new Stream();
  current->streams.insert(s);
  *stream = s;
  return SUCCESS;
}

int cuStreamDestroy_v2(void* stream) {
  std::lock_guard<std::mutex> lock(api);
  if (!current || !current->streams.erase(static_cast<Stream*>(stream))) return INVALID_HANDLE;
  delete static_cast<Stream*>(stream);
  return SUCCESS;
}

int cuStreamSynchronize(void* stream) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  Stream* s = stream_of(stream);
  if (s->capture) {
    s->invalidated = true;
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  return SUCCESS;
}

int cuStreamQuery(void* stream) { return cuStreamSynchronize(stream); }

int cuStreamWaitEvent(void* stream, void* event, unsigned flags) {
  (void)stream;
  (void)event;
  (void)flags;
  return SUCCESS;  // everything before the event has run already
}

int cuStreamBeginCapture_v2(void* stream, int mode) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  (void)mode;
  Stream* s = stream_of(stream);
  if (s == &legacy) return STREAM_CAPTURE_UNSUPPORTED;  // as the driver: no capture on stream 0
  if (s->capture) return INVALID_VALUE;
  s->capture = new Graph();
  s->invalidated = false;
  return SUCCESS;
}

int cuStreamEndCapture(void* stream, void** graph) {
  std::lock_guard<std::mutex> lock(api);
  Stream* s = stream_of(stream);
  if (!s->capture) return INVALID_VALUE;
  Graph* g = s->capture;
  s->capture = nullptr;
  if (s->invalidated) {
    delete g;
    *graph = nullptr;
    return STREAM_CAPTURE_INVALIDATED;
  }
  *graph = g;
  return SUCCESS;
}

int cuStreamIsCapturing(void* stream, int* status) {
  std::lock_guard<std::mutex> lock(api);
  Stream* s = stream_of(stream);
  *status = s->capture ? (s->invalidated ? 2 : 1) : 0;
  return SUCCESS;
}

int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
  (void)flags;
  if (!graph) return INVALID_VALUE;
  *exec = new Graph(*static_cast<Graph*>(graph));
  return SUCCESS;
}

int cuGraphLaunch(void* exec, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  if (Result r = check_context()) return r;
  if (!exec) return INVALID_VALUE;
  Stream* s = stream_of(stream);
  Graph* g = static_cast<Graph*>(exec);
  if (s->capture) {  // a graph launched inside a capture becomes part of it
    for (const Op& op : g->ops) s->capture->ops.push_back(op);
    return SUCCESS;
  }
  for (const Op& op : g->ops) {
    if (Result r = op()) return r;
  }
  return SUCCESS;
}

int cuGraphDestroy(void* graph) {
  delete static_cast<Graph*>(graph);
  return SUCCESS;
}

int cuGraphExecDestroy(void* exec) {
  delete static_cast<Graph*>(exec);
  return SUCCESS;
}

int cuEventCreate(void** event, unsigned flags) {
  (void)flags;
  *event = new Event();
  return SUCCESS;
}

int cuEventDestroy_v2(void* event) {
  delete static_cast<Event*>(event);
  return SUCCESS;
}

int cuEventRecord(void* event, void* stream) {
  std::lock_guard<std::mutex> lock(api);
  Event* e = static_cast<Event*>(event);
  return submit(stream, [e] {
    e->at = std::chrono::steady_clock::now();
    e->recorded = true;
    return SUCCESS;
  });
}

int cuEventRecordWithFlags(void* event, void* stream, unsigned flags) {
  (void)flags;
  return cuEventRecord(event, stream);
}

int cuEventSynchronize(void* event) {
  return static_cast<Event*>(event)->recorded ? SUCCESS : INVALID_HANDLE;
}

int cuEventQuery(void* event) { return cuEventSynchronize(event); }

int cuEventElapsedTime(float* millis, void* start, void* end) {
  Event* a = static_cast<Event*>(start);
  Event* b = static_cast<Event*>(end);
  if (!a->recorded || !b->recorded) return INVALID_HANDLE;
  *millis = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return SUCCESS;
}

// ---- errors ------------------------------------------------------------------------------------

int cuGetErrorName(int error, const char** name) {
  switch (error) {
    case SUCCESS: *name = "CUDA_SUCCESS"; break;
    case INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; break;
    case OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case NOT_INITIALIZED: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case INVALID_DEVICE: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
    case INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
    case INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case INVALID_HANDLE: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
    case NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; break;
    case LAUNCH_OUT_OF_RESOURCES: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
    case LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
    case NOT_SUPPORTED: *name = "CUDA_ERROR_NOT_SUPPORTED"; break;
    case STREAM_CAPTURE_UNSUPPORTED: *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
    case STREAM_CAPTURE_INVALIDATED: *name = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; break;
    case STREAM_CAPTURE_IMPLICIT: *name = "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"; break;
    default: return INVALID_VALUE;
  }
  return SUCCESS;
}

int cuGetErrorString(int error, const char** text) {
  if (error == LAUNCH_FAILED) {
    *text = "the emulated launch failed (deadlock or an unemulated operation; see stderr)";
    return SUCCESS;
  }
  return cuGetErrorName(error, text);
}

}  // extern "C"
