package io.latentstream.backend.cuda;

/**
 * Every CUDA kernel of the backend, by the source file (PTX module) that defines it; the entry
 * point is the constant's name in lower case ({@code extern "C"} in src/main/cuda). The one place
 * that names kernels: the device loads exactly these, and a test checks each against the PTX.
 */
public enum CudaKernel {
  /** y = x W^T, bf16 weights, few rows (16 per block): decode. */
  GEMV_BF16(Module.GEMM),
  /** y = x W^T, bf16 weights, 64 rows per block: prefill and large batches. */
  GEMM_BF16(Module.GEMM),
  /** y = x (W * block scales)^T, fp8 e4m3 weights with 128x128 scales, few rows. */
  GEMV_FP8(Module.GEMM),
  /** As GEMV_FP8, 64 rows per block. */
  GEMM_FP8(Module.GEMM),
  /** fp32 y = x W^T for the MoE router. */
  GEMV_F32(Module.GEMM),
  RMSNORM(Module.RMSNORM),
  ROPE_INTERLEAVED(Module.ROPE),
  SILU_MUL(Module.ELEMENTWISE),
  RESIDUAL_ADD(Module.ELEMENTWISE),
  EMBED_GATHER(Module.ELEMENTWISE),
  GATHER_ROWS(Module.ELEMENTWISE),
  STRIDED_COPY(Module.ELEMENTWISE),
  MLA_CACHE_APPEND(Module.MLA),
  /** Absorbed MLA attention over the paged latent cache, one chunk of the context per block. */
  MLA_ATTEND(Module.MLA),
  /** MLA_ATTEND for 4 heads per block, reading each cached row once per group (speed candidate). */
  MLA_ATTEND_GROUPED(Module.MLA),
  /** Merges MLA_ATTEND's chunks (split-K over the sequence). */
  MLA_COMBINE(Module.MLA),
  MOE_ROUTE(Module.MOE),
  MOE_GROUP(Module.MOE),
  MOE_GEMM_BF16(Module.MOE),
  MOE_GEMM_FP8(Module.MOE),
  MOE_COMBINE(Module.MOE),
  GREEDY_ROWS(Module.SAMPLING),
  SAMPLE_ROWS(Module.SAMPLING),
  DRAFT_ROWS(Module.SAMPLING),
  PHILOX_UNIFORM_ROWS(Module.SAMPLING);

  /** A kernel source file of src/main/cuda, compiled to the resource {@link #resource()}. */
  public enum Module {
    GEMM,
    RMSNORM,
    ROPE,
    ELEMENTWISE,
    MLA,
    MOE,
    SAMPLING;

    /** The classpath resource holding the module's PTX (built by nvcc for sm_90). */
    public String resource() {
      return "/io/latentstream/backend/cuda/ptx/"
          + name().toLowerCase(java.util.Locale.ROOT)
          + ".ptx";
    }
  }

  private final Module module;

  CudaKernel(Module module) {
    this.module = module;
  }

  public Module module() {
    return module;
  }

  /** The PTX entry point. */
  public String entry() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
