package io.latentstream.weights;

import java.nio.file.Path;
import java.util.Arrays;

/** One tensor's header entry: where its bytes lie in which file. */
public record TensorInfo(Path file, String name, DType dtype, long[] shape, long begin, long end) {
  public long elements() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape) + " in " + file.getFileName();
  }
}
