package io.latentstream.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.JCudaDriver;

/**
 * One GPU through JCuda's driver API: a context on device 0, every {@link CudaKernel} loaded from
 * the PTX resources, device memory owned until {@link #close}. Not thread-safe; a thread other than
 * the opener must call {@link #makeCurrent} first.
 *
 * <p>Kernels run in order on one stream of the context, created blocking: the synchronous copies
 * ({@link #copy}, {@link #read}), issued on the legacy default stream, wait for the kernels before
 * them and the kernels after them wait for the copies, so the order of calls is the order of work.
 * A separate stream, rather than the legacy one, is what CUDA graph capture ({@link #capture})
 * needs.
 */
public final class CudaDevice implements AutoCloseable {
  private final CUcontext context;
  private final CUstream stream;
  private final String name;
  private final int driverVersion;
  private final Map<CudaKernel, CUfunction> functions = new EnumMap<>(CudaKernel.class);
  private final Map<CudaKernel, List<PtxSignatures.Kind>> signatures =
      new EnumMap<>(CudaKernel.class);
  private final Map<CUdeviceptr, Long> allocations = new java.util.LinkedHashMap<>();
  private long allocatedBytes;
  private long launches;
  private KernelTimes profile;

  /** Kernels added to the graph being captured, or -1 when no capture is under way. */
  private int captured = -1;

  private CudaDevice(CUcontext context, CUstream stream, String name, int driverVersion) {
    this.context = context;
    this.stream = stream;
    this.name = name;
    this.driverVersion = driverVersion;
  }

  /**
   * Opens device 0 and loads the kernels, or says why not: no PTX in this build, JCuda's native
   * library not loadable (no libcuda, the usual case on a machine without an NVIDIA driver), cuInit
   * failing, or no device.
   */
  public static CudaDevice open() throws CudaUnavailableException {
    Map<CudaKernel.Module, byte[]> ptx = loadPtx();
    loadDriver();
    CUcontext context = new CUcontext();
    CUstream stream = new CUstream();
    String name;
    int[] version = new int[1];
    try {
      cuInit(0);
      int[] count = new int[1];
      cuDeviceGetCount(count);
      if (count[0] == 0) {
        throw new CudaUnavailableException("the CUDA driver reports no device", null);
      }
      CUdevice device = new CUdevice();
      cuDeviceGet(device, 0);
      byte[] bytes = new byte[256];
      cuDeviceGetName(bytes, bytes.length, device);
      name = new String(bytes, StandardCharsets.US_ASCII).trim().replace("\0", "");
      cuDriverGetVersion(version);
      cuCtxCreate(context, 0, device);
      cuStreamCreate(stream, 0); // 0: blocking, ordered with the legacy default stream's copies
    } catch (RuntimeException e) { // JCuda's CudaException: cuInit or device queries failed
      throw new CudaUnavailableException("CUDA driver initialisation failed: " + e.getMessage(), e);
    }
    CudaDevice d = new CudaDevice(context, stream, name, version[0]);
    try {
      Map<CudaKernel.Module, CUmodule> modules = new EnumMap<>(CudaKernel.Module.class);
      Map<String, List<PtxSignatures.Kind>> declared = new java.util.HashMap<>();
      for (var e : ptx.entrySet()) {
        CUmodule m = new CUmodule();
        cuModuleLoadData(m, e.getValue());
        modules.put(e.getKey(), m);
        declared.putAll(PtxSignatures.parse(new String(e.getValue(), StandardCharsets.US_ASCII)));
      }
      for (CudaKernel k : CudaKernel.values()) {
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, modules.get(k.module()), k.entry());
        d.functions.put(k, f);
        d.signatures.put(k, declared.get(k.entry()));
      }
    } catch (RuntimeException e) {
      d.close();
      throw new CudaUnavailableException("loading the kernels failed: " + e.getMessage(), e);
    }
    return d;
  }

  /** Why JCuda's native library failed to load, once it has; a class fails to load only once. */
  private static String driverLoadFailure;

  private static synchronized void loadDriver() throws CudaUnavailableException {
    if (driverLoadFailure == null) {
      try {
        JCudaDriver.setExceptionsEnabled(true);
        return;
      } catch (LinkageError e) {
        driverLoadFailure = "JCuda's driver library does not load: " + rootCause(e);
      }
    }
    throw new CudaUnavailableException(driverLoadFailure, null);
  }

  /**
   * The line of JCuda's many-line load report that says what is missing (usually "libcuda.so.1:
   * cannot open shared object file": no NVIDIA driver on this machine).
   */
  private static String rootCause(LinkageError e) {
    String message = String.valueOf(e.getMessage());
    for (String line : message.split("\n")) {
      int at = line.indexOf("cannot open shared object file");
      if (at >= 0) {
        String lib = line.substring(0, at).replaceAll(".*: ([^:]+): $", "$1");
        return lib + " cannot be opened (no NVIDIA driver here?)";
      }
    }
    return message.lines().findFirst().orElse(e.toString());
  }

  /** The PTX of every module, NUL-terminated as cuModuleLoadData wants it. */
  private static Map<CudaKernel.Module, byte[]> loadPtx() throws CudaUnavailableException {
    Map<CudaKernel.Module, byte[]> ptx = new EnumMap<>(CudaKernel.Module.class);
    for (CudaKernel.Module m : CudaKernel.Module.values()) {
      try (InputStream in = CudaDevice.class.getResourceAsStream(m.resource())) {
        if (in == null) {
          throw new CudaUnavailableException(
              "this build has no PTX kernels (" + m.resource() + "): it was built without nvcc",
              null);
        }
        byte[] text = in.readAllBytes();
        byte[] terminated = java.util.Arrays.copyOf(text, text.length + 1);
        ptx.put(m, terminated);
      } catch (IOException e) {
        throw new CudaUnavailableException("cannot read " + m.resource(), e);
      }
    }
    return ptx;
  }

  /** The device's name, as the driver reports it ("NVIDIA H200"). */
  public String name() {
    return name;
  }

  /**
   * Whether this is the tests' CPU-emulated device (gpu-runtime/src/test/cuda-emulator, which says
   * so in its name): right for logic, meaningless for timings.
   */
  public boolean emulated() {
    return name.startsWith(EMULATOR_NAME);
  }

  /** How the emulated device's name begins. */
  public static final String EMULATOR_NAME = "latentstream CUDA emulator";

  /** The driver's CUDA version, 1000 * major + 10 * minor (13000 for CUDA 13.0). */
  public int driverVersion() {
    return driverVersion;
  }

  /** Binds this device's context to the calling thread. */
  public void makeCurrent() {
    cuCtxSetCurrent(context);
    CURRENT.set(context);
  }

  /** The context current on each thread, as far as this class made it so. */
  private static final ThreadLocal<CUcontext> CURRENT = new ThreadLocal<>();

  /**
   * Makes the device's context current on the calling thread unless it is: an engine is driven by
   * one thread at a time, but not always the one that opened its device (the generation loop's).
   */
  public void ensureCurrent() {
    if (CURRENT.get() != context) {
      makeCurrent();
    }
  }

  /** Device memory of the given size, zeroed, freed on close. */
  public CUdeviceptr alloc(long bytes) {
    CUdeviceptr p = new CUdeviceptr();
    cuMemAlloc(p, Math.max(bytes, 1));
    cuMemsetD8(p, (byte) 0, Math.max(bytes, 1));
    allocations.put(p, bytes);
    allocatedBytes += bytes;
    return p;
  }

  /** Bytes held through {@link #alloc} now. */
  public long allocatedBytes() {
    return allocatedBytes;
  }

  /** Frees memory from {@link #alloc} before close (a buffer being replaced by a larger one). */
  public void free(CUdeviceptr p) {
    Long bytes = allocations.remove(p);
    if (bytes != null) {
      allocatedBytes -= bytes;
      cuMemFree(p);
    }
  }

  public CUdeviceptr upload(float[] v) {
    CUdeviceptr p = alloc((long) v.length * Sizeof.FLOAT);
    copy(v, p);
    return p;
  }

  public CUdeviceptr upload(int[] v) {
    CUdeviceptr p = alloc((long) v.length * Sizeof.INT);
    cuMemcpyHtoD(p, Pointer.to(v), (long) v.length * Sizeof.INT);
    return p;
  }

  public CUdeviceptr upload(long[] v) {
    CUdeviceptr p = alloc((long) v.length * Sizeof.LONG);
    cuMemcpyHtoD(p, Pointer.to(v), (long) v.length * Sizeof.LONG);
    return p;
  }

  public CUdeviceptr upload(byte[] v) {
    CUdeviceptr p = alloc(v.length);
    cuMemcpyHtoD(p, Pointer.to(v), v.length);
    return p;
  }

  /** Uploads fp32 values as bf16 (round to nearest even): how weights live on the device. */
  public CUdeviceptr uploadBf16(float[] v) {
    short[] h = Bf16.of(v);
    CUdeviceptr p = alloc((long) h.length * Sizeof.SHORT);
    cuMemcpyHtoD(p, Pointer.to(h), (long) h.length * Sizeof.SHORT);
    return p;
  }

  public void copy(float[] src, CUdeviceptr dst) {
    copy(src, 0, src.length, dst);
  }

  public void copy(float[] src, int off, int len, CUdeviceptr dst) {
    cuMemcpyHtoD(dst, Pointer.to(src).withByteOffset((long) off * Sizeof.FLOAT), (long) len * 4);
  }

  public void copy(int[] src, CUdeviceptr dst) {
    cuMemcpyHtoD(dst, Pointer.to(src), (long) src.length * Sizeof.INT);
  }

  public void copy(long[] src, CUdeviceptr dst) {
    cuMemcpyHtoD(dst, Pointer.to(src), (long) src.length * Sizeof.LONG);
  }

  /** Device-to-device copy (the bandwidth reference of the benchmarks). */
  public void copy(CUdeviceptr src, CUdeviceptr dst, long bytes) {
    cuMemcpyDtoD(dst, src, bytes);
  }

  public void read(CUdeviceptr src, float[] dst, int off, int len) {
    cuMemcpyDtoH(Pointer.to(dst).withByteOffset((long) off * Sizeof.FLOAT), src, (long) len * 4);
  }

  public float[] readFloats(CUdeviceptr src, int n) {
    float[] v = new float[n];
    read(src, v, 0, n);
    return v;
  }

  public int[] readInts(CUdeviceptr src, int n) {
    int[] v = new int[n];
    cuMemcpyDtoH(Pointer.to(v), src, (long) n * Sizeof.INT);
    return v;
  }

  public long[] readLongs(CUdeviceptr src, int n) {
    long[] v = new long[n];
    cuMemcpyDtoH(Pointer.to(v), src, (long) n * Sizeof.LONG);
    return v;
  }

  /**
   * Launches a kernel on the device's stream (or adds it to the graph being captured), after
   * checking the arguments against the kernel's PTX parameter list (count and width). Arguments are
   * {@link CUdeviceptr}s (pointers, null for a null pointer), Integers, Longs (C {@code long long})
   * and Floats, in the kernel's order.
   */
  public void launch(CudaKernel kernel, Grid grid, Object... args) {
    PtxSignatures.check(kernel, signatures.get(kernel), args);
    if (captured >= 0) {
      captured++;
    } else {
      launches++;
    }
    Pointer[] params = new Pointer[args.length];
    for (int i = 0; i < args.length; i++) {
      Object a = args[i];
      if (a == null) {
        params[i] = Pointer.to(new CUdeviceptr());
      } else if (a instanceof CUdeviceptr p) {
        params[i] = Pointer.to(p);
      } else if (a instanceof Integer v) {
        params[i] = Pointer.to(new int[] {v});
      } else if (a instanceof Long v) {
        params[i] = Pointer.to(new long[] {v});
      } else if (a instanceof Float v) {
        params[i] = Pointer.to(new float[] {v});
      } else {
        throw new IllegalArgumentException(kernel + " argument " + i + ": " + a.getClass());
      }
    }
    boolean timed = profile != null && captured < 0; // events inside a graph cannot be timed
    if (timed) {
      profile.before(kernel.entry());
    }
    cuLaunchKernel(
        functions.get(kernel),
        grid.x(),
        grid.y(),
        grid.z(),
        grid.threads(),
        1,
        1,
        0,
        stream,
        Pointer.to(params),
        null);
    if (timed) {
      profile.after();
    }
  }

  /**
   * Records the launches that work makes into a CUDA graph instead of running them: replaying it
   * ({@link #launch(Graph)}) costs one launch from Java instead of one per kernel. The launches'
   * arguments are fixed at capture (pointers, sizes), so the graph is valid for as long as its
   * buffers are and its sizes hold; work must only launch (no copies, no synchronize).
   */
  public Graph capture(Runnable work) {
    if (captured >= 0) {
      throw new IllegalStateException("a capture is already under way");
    }
    cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    captured = 0;
    CUgraph graph = new CUgraph();
    int kernels;
    try {
      work.run();
    } finally {
      kernels = captured;
      captured = -1;
      cuStreamEndCapture(stream, graph); // also on failure: the stream must leave capture mode
    }
    CUgraphExec exec = new CUgraphExec();
    cuGraphInstantiate(exec, graph, 0);
    cuGraphDestroy(graph);
    return new Graph(exec, kernels);
  }

  /** A captured sequence of kernels, ready to replay; freed with the context. */
  public record Graph(CUgraphExec exec, int kernels) {}

  /** Replays a captured graph on the device's stream: one launch from Java. */
  public void launch(Graph graph) {
    launches++;
    if (profile != null) {
      profile.before("graph of " + graph.kernels() + " kernels");
    }
    cuGraphLaunch(graph.exec(), stream);
    if (profile != null) {
      profile.after();
    }
  }

  /** Frees a graph that will not be replayed again. */
  public void destroy(Graph graph) {
    cuGraphExecDestroy(graph.exec());
  }

  /**
   * Runs work with every launch timed on the device (CUDA events around each on the device's
   * stream; a graph's replay timed as a whole: on the H200, cuEventElapsedTime refuses events
   * recorded inside a graph), then synchronizes; returns milliseconds of GPU time per kernel entry
   * point and per graph.
   */
  public Map<String, Double> profile(Runnable work) {
    profile = new KernelTimes(stream);
    try {
      work.run();
      synchronize();
      return profile.millis();
    } finally {
      profile = null;
    }
  }

  /** A fresh set of event marks on the device's stream (see {@link EventMarks}). */
  public EventMarks marks() {
    return new EventMarks(stream);
  }

  /**
   * Launches from Java so far, a graph's replay counted once (launches per step, for benchmarks).
   */
  public long launches() {
    return launches;
  }

  /** Waits for every launched kernel; a kernel's failure surfaces here as an exception. */
  public void synchronize() {
    cuCtxSynchronize();
  }

  @Override
  public void close() {
    makeCurrent();
    for (CUdeviceptr p : allocations.keySet()) {
      cuMemFree(p);
    }
    allocations.clear();
    allocatedBytes = 0;
    cuCtxDestroy(context);
  }

  /**
   * Drops the context after a fault (an illegal address, say) that left it unusable: its memory
   * goes with it, and errors on the way out are ignored since the context is already broken.
   */
  public void abandon() {
    allocations.clear();
    allocatedBytes = 0;
    try {
      cuCtxDestroy(context);
    } catch (RuntimeException e) {
      // Already failed; nothing more to release.
    }
  }

  /** A launch shape: blocks in x, y, z and threads per block (one-dimensional blocks). */
  public record Grid(int x, int y, int z, int threads) {
    public static Grid of(int x, int threads) {
      return new Grid(x, 1, 1, threads);
    }

    public static Grid of(int x, int y, int threads) {
      return new Grid(x, y, 1, threads);
    }

    /** Blocks to cover n items at per items each. */
    public static int blocks(long n, int per) {
      return (int) ((n + per - 1) / per);
    }
  }
}
