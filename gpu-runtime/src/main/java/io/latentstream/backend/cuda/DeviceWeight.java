package io.latentstream.backend.cuda;

import io.latentstream.weights.DType;
import jcuda.driver.CUdeviceptr;

/**
 * A linear layer's weight W [n, k] on the device (or a stack of them back to back: experts, heads)
 * in a dtype the GEMM kernels take: bf16, or fp8 e4m3 with fp32 scales per {@link #FP8_BLOCK}
 * square block ([ceil(n / 128), ceil(k / 128)] per matrix, DeepSeek-V3's weight_scale_inv), which
 * the kernels apply inside the GEMM.
 *
 * @param scales the fp8 block scales; null for bf16
 */
public record DeviceWeight(CUdeviceptr data, CUdeviceptr scales, DType dtype) {
  /** The fp8 kernels' block edge (mma.cuh's kFp8Block). */
  public static final int FP8_BLOCK = 128;

  public DeviceWeight {
    if (dtype != DType.BF16 && dtype != DType.F8_E4M3) {
      throw new IllegalArgumentException("device weights are bf16 or fp8, not " + dtype);
    }
    if ((dtype == DType.F8_E4M3) != (scales != null)) {
      throw new IllegalArgumentException(
          dtype + " weights " + (scales == null ? "need" : "take no") + " block scales");
    }
  }

  public static DeviceWeight bf16(CUdeviceptr data) {
    return new DeviceWeight(data, null, DType.BF16);
  }

  public static DeviceWeight fp8(CUdeviceptr data, CUdeviceptr scales) {
    return new DeviceWeight(data, scales, DType.F8_E4M3);
  }

  boolean fp8() {
    return dtype == DType.F8_E4M3;
  }

  /** Scales of one fp8 [n, k] matrix: the stride between a stack's matrices' scales. */
  public static long scaleBlocks(int n, int k) {
    return (long) CudaDevice.Grid.blocks(n, FP8_BLOCK) * CudaDevice.Grid.blocks(k, FP8_BLOCK);
  }
}
