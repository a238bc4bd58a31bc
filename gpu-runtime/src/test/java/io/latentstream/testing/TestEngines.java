package io.latentstream.testing;

import io.latentstream.engine.Engine;
import io.latentstream.engine.cpu.CpuEngine;
import io.latentstream.engine.cuda.CudaEngine;
import io.latentstream.runtime.Backends;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/**
 * brown-mtp engines for the tests of what holds on any engine, by backend name: {@code cpu}, or
 * {@code cuda} on the emulated device (the calling test skips where it is not built). Each is
 * loaded once per test JVM and shared by the test classes, its device open until the JVM ends:
 * loading the CUDA engine on the emulator takes seconds. Sized for a generation loop of 32
 * sequences and 256-token steps, with 8,192 tokens of latent pages.
 */
public final class TestEngines {
  private static final Map<String, Engine> ENGINES = new HashMap<>();

  private TestEngines() {}

  public static synchronized Engine brownMtp(String backend) {
    Engine engine = ENGINES.get(backend);
    if (engine == null) {
      engine = load(backend);
      ENGINES.put(backend, engine);
    }
    return engine;
  }

  private static Engine load(String backend) {
    try {
      return switch (backend) {
        case "cpu" -> CpuEngine.load(SharedData.model("brown-mtp"));
        case "cuda" -> {
          Backends.CudaSizes sizes = Backends.CudaSizes.forLoop(32, 256, 0);
          yield CudaEngine.load(
              EmulatedDevice.open(), SharedData.model("brown-mtp"), sizes.maxRows(), 8192);
        }
        default -> throw new IllegalArgumentException("no backend " + backend);
      };
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
