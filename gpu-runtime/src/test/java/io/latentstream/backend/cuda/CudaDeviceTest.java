package io.latentstream.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentstream.testing.EmulatedDevice;
import java.util.Map;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the engine relies on beyond single launches, on the emulated device: a captured graph
 * replays its launches with the arguments of the capture; a synchronous copy inside a capture is
 * refused as the driver refuses it, and the device goes on; launches are timed with events.
 */
class CudaDeviceTest {
  @RegisterExtension static final EmulatedDevice emulated = new EmulatedDevice();

  @Test
  void aGraphReplaysItsLaunches() {
    CudaDevice device = emulated.get();
    CudaOps ops = new CudaOps(device);
    int n = 1000;
    float[] ones = new float[n];
    java.util.Arrays.fill(ones, 1f);
    CUdeviceptr x = device.upload(new float[n]);
    CUdeviceptr y = device.upload(ones);
    CudaDevice.Graph graph =
        device.capture(
            () -> {
              ops.add(x, y, n);
              ops.add(x, y, n);
            });
    assertEquals(2, graph.kernels());
    assertArrayEquals(new float[n], device.readFloats(x, n), "capturing runs nothing");
    for (int i = 0; i < 3; i++) {
      device.launch(graph);
    }
    float[] six = new float[n];
    java.util.Arrays.fill(six, 6f);
    assertArrayEquals(six, device.readFloats(x, n), "three replays of two additions");
    device.destroy(graph);
  }

  @Test
  void aSynchronousCopyInsideACaptureIsRefused() {
    CudaDevice device = emulated.get();
    CUdeviceptr x = device.upload(new float[4]);
    CudaException e =
        assertThrows(CudaException.class, () -> device.capture(() -> device.copy(new float[4], x)));
    assertTrue(e.getMessage().contains("CAPTURE"), e.getMessage());
    device.copy(new float[] {1, 2, 3, 4}, x); // the device goes on
    assertArrayEquals(new float[] {1, 2, 3, 4}, device.readFloats(x, 4));
  }

  @Test
  void launchesAreTimedWithEvents() {
    CudaDevice device = emulated.get();
    CudaOps ops = new CudaOps(device);
    CUdeviceptr x = device.upload(new float[256]);
    Map<String, Double> millis = device.profile(() -> ops.add(x, x, 256));
    assertTrue(millis.get("residual_add") >= 0, millis.toString());
  }
}
