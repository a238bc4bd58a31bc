package io.latentstream.runtime;

import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaUnavailableException;
import io.latentstream.engine.Engine;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.engine.cuda.CudaEngine;
import io.latentstream.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place an engine is chosen ({@code latentstream.backend}, {@code --backend}): {@code cpu};
 * {@code cuda}, the forward pass on the GPU ({@link CudaEngine}), refusing to start without a
 * usable device; or {@code auto}, CUDA where a device and the PTX are there, else the CPU with one
 * log line saying why. Above the engines: the service and the command line call it, nothing else
 * names an engine class.
 */
public final class Backends {
  private static final Logger LOG = LoggerFactory.getLogger(Backends.class);

  private Backends() {}

  /** The backends a configuration can name. */
  public enum Backend {
    CPU,
    CUDA,
    AUTO;

    /** Parses a configured name, case-insensitively. */
    public static Backend of(String name) {
      try {
        return valueOf(name.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("unknown backend '" + name + "' (cpu, cuda or auto)", e);
      }
    }
  }

  /**
   * What a CUDA engine is sized for: rows of one step (the loop's token budget plus a draft row per
   * running sequence) and device memory for the latent pages of every sequence together.
   */
  public record CudaSizes(int maxRows, long cacheBytes) {
    /** 1 GiB of latent pages: 13,000 tokens of DeepSeek-V3 (61 layers x 576 x 4 bytes each). */
    public static final long DEFAULT_CACHE_BYTES = 1L << 30;

    public static CudaSizes forLoop(int maxRunning, int maxStepTokens, long cacheBytes) {
      return new CudaSizes(maxStepTokens + 2 * maxRunning, cacheBytes);
    }
  }

  /**
   * A loaded engine, the backend it runs on, and why the configured one could not be used (auto
   * only; else null). Closing it releases the GPU.
   */
  public record Loaded(Engine engine, Backend backend, String fallbackReason, CudaDevice device)
      implements AutoCloseable {
    @Override
    public void close() {
      if (device != null) {
        device.close();
      }
    }
  }

  /** The CPU engine of the checkpoint in dir, on the Vector API kernels, one thread per core. */
  public static Loaded cpu(Path dir) throws IOException {
    return cpu(dir, Runtime.getRuntime().availableProcessors());
  }

  /** The CPU engine of the checkpoint in dir, its kernels on the given number of threads. */
  public static Loaded cpu(Path dir, int threads) throws IOException {
    return new Loaded(CpuEngine.load(dir, new VectorKernels(threads)), Backend.CPU, null, null);
  }

  /** The engine of the checkpoint in dir on the named backend. */
  public static Loaded load(String name, Path dir, CudaSizes sizes) throws IOException {
    Backend wanted = Backend.of(name);
    if (wanted == Backend.CPU) {
      return cpu(dir);
    }
    CudaDevice device;
    try {
      device = CudaDevice.open();
    } catch (CudaUnavailableException e) {
      if (wanted == Backend.CUDA) {
        throw new IllegalStateException("backend cuda: " + e.getMessage(), e);
      }
      LOG.warn("backend auto: no usable GPU, serving on the CPU: {}", e.getMessage());
      Loaded cpu = cpu(dir);
      return new Loaded(cpu.engine(), Backend.CPU, e.getMessage(), null);
    }
    if (device.emulated()) {
      LOG.warn(
          "backend cuda on {}: the tests' CPU emulation of a GPU, for trying the CUDA path;"
              + " slow, and no figure it gives is a GPU's",
          device.name());
    }
    try {
      ModelConfig c = ModelConfig.load(dir);
      int layers = c.numHiddenLayers() + Math.min(1, c.numNextnPredictLayers());
      long tokens = sizes.cacheBytes() / ((long) layers * c.latentDim() * Float.BYTES);
      CudaEngine engine =
          CudaEngine.load(device, dir, sizes.maxRows(), (int) Math.min(tokens, Integer.MAX_VALUE));
      LOG.info(
          "backend cuda: {} (driver {}), {} latent tokens on the device, {}",
          device.name(),
          device.driverVersion(),
          tokens,
          engine.memory());
      return new Loaded(engine, Backend.CUDA, null, device);
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
  }
}
