package io.latentstream.backend;

/**
 * A weight matrix [rows, cols] (a linear layer's W, y = x W^T) in the layout its backend chose when
 * it {@link Kernels#pack packed} it.
 */
public interface Matrix {
  int rows();

  int cols();
}
