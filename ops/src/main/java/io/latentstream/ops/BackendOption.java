package io.latentstream.ops;

import picocli.CommandLine.Option;

/** {@code --backend}: which engine a command runs on (see io.latentstream.runtime.Backends). */
public final class BackendOption {
  @Option(
      names = "--backend",
      defaultValue = "cpu",
      description =
          "cpu, cuda (the forward pass on the GPU; LATENTSTREAM_CUDA_EMULATOR=1 runs it on the"
              + " tests' CPU emulation) or auto (default ${DEFAULT-VALUE}).")
  public String name;
}
