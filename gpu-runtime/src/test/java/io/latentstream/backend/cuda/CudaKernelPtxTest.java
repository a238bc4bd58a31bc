package io.latentstream.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The PTX the build compiled (with nvcc, where the machine has it) defines exactly the kernels of
 * {@link CudaKernel}, for sm_90: a kernel added to one side only fails here, not on the GPU.
 */
class CudaKernelPtxTest {
  private static final Pattern ENTRY = Pattern.compile("\\.visible \\.entry (\\w+)\\(");

  @Test
  void everyModuleDefinesExactlyItsKernels() throws IOException {
    for (CudaKernel.Module m : CudaKernel.Module.values()) {
      String ptx = ptx(m);
      Set<String> defined = new TreeSet<>();
      Matcher e = ENTRY.matcher(ptx);
      while (e.find()) {
        defined.add(e.group(1));
      }
      Set<String> named =
          Arrays.stream(CudaKernel.values())
              .filter(k -> k.module() == m)
              .map(CudaKernel::entry)
              .collect(Collectors.toCollection(TreeSet::new));
      assertEquals(named, defined, m.resource());
      assertTrue(ptx.contains(".target sm_90"), m.resource() + " is not built for sm_90");
    }
  }

  /**
   * Launches are checked against the PTX parameter lists: the parser reads every kernel's list, and
   * a wrong count or width is refused with the kernel's name.
   */
  @Test
  void launchArgumentsAreCheckedAgainstThePtxParameters() throws IOException {
    var signatures = PtxSignatures.parse(ptx(CudaKernel.Module.GEMM));
    var gemv = signatures.get(CudaKernel.GEMV_BF16.entry());
    // gemv_bf16(x, ldx, sx, M, w, sw, y, ldy, sy, N, K)
    assertEquals(11, gemv.size());
    jcuda.driver.CUdeviceptr p = new jcuda.driver.CUdeviceptr();
    PtxSignatures.check(
        CudaKernel.GEMV_BF16, gemv, new Object[] {p, 8, 0L, 1, p, 0L, p, 8, 0L, 8, 8});
    IllegalArgumentException narrow =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class,
            () ->
                PtxSignatures.check(
                    CudaKernel.GEMV_BF16, gemv, new Object[] {p, 8, 0, 1, p, 0L, p, 8, 0L, 8, 8}));
    assertTrue(narrow.getMessage().contains("gemv_bf16 argument 2"), narrow.getMessage());
    org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class,
        () -> PtxSignatures.check(CudaKernel.GEMV_BF16, gemv, new Object[] {p, 8}));
    for (CudaKernel.Module m : CudaKernel.Module.values()) {
      var declared = PtxSignatures.parse(ptx(m));
      for (CudaKernel k : CudaKernel.values()) {
        if (k.module() == m) {
          assertTrue(!declared.get(k.entry()).isEmpty(), k + " has no parameters in the PTX");
        }
      }
    }
  }

  private static String ptx(CudaKernel.Module m) throws IOException {
    try (InputStream in = CudaKernel.class.getResourceAsStream(m.resource())) {
      Assumptions.assumeTrue(
          in != null, "no PTX in this build (nvcc was not found): " + m.resource() + " skipped");
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    }
  }
}
