package io.latentstream.backend;

import io.latentstream.backend.cpu.VectorKernels;
import io.latentstream.backend.cuda.CudaDevice;
import io.latentstream.backend.cuda.CudaKernels;
import io.latentstream.backend.cuda.CudaUnavailableException;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the kernels the engine runs on from configuration ({@code latentstream.backend}): {@code
 * cpu}, or {@code cuda}, which falls back to the CPU, saying why in one log line, when this machine
 * has no usable GPU (no driver, no device, or a build without PTX).
 */
public final class Backends {
  private static final Logger LOG = LoggerFactory.getLogger(Backends.class);

  private Backends() {}

  /** The backends a configuration can name. */
  public enum Backend {
    CPU,
    CUDA;

    /** Parses a configured name, case-insensitively. */
    public static Backend of(String name) {
      try {
        return valueOf(name.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("unknown backend '" + name + "' (cpu or cuda)", e);
      }
    }
  }

  /**
   * The outcome of {@link #select}: the kernels, the backend they run on, and, when the configured
   * backend could not start, why (null otherwise). Closing it releases the GPU.
   */
  public record Selection(Kernels kernels, Backend backend, String fallbackReason)
      implements AutoCloseable {
    @Override
    public void close() {
      if (kernels instanceof CudaKernels cuda) {
        cuda.close();
      }
    }
  }

  /** The kernels for the configured backend name, falling back from cuda to cpu when needed. */
  public static Selection select(String name) {
    Backend wanted = Backend.of(name);
    if (wanted == Backend.CPU) {
      return new Selection(new VectorKernels(), Backend.CPU, null);
    }
    try {
      CudaDevice device = CudaDevice.open();
      LOG.info(
          "backend cuda: {} (driver {}), linear layers on the GPU in fp32",
          device.name(),
          device.driverVersion());
      return new Selection(
          new CudaKernels(device, new VectorKernels(), CudaKernels.Precision.FP32),
          Backend.CUDA,
          null);
    } catch (CudaUnavailableException e) {
      LOG.warn("backend cuda unavailable, serving on the CPU backend: {}", e.getMessage());
      return new Selection(new VectorKernels(), Backend.CPU, e.getMessage());
    }
  }
}
