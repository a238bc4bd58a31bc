package io.latentstream.ops.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The data of one throwaway run (the demo, a benchmark): broker logs and Streams state under {@code
 * var/runs/} of the working directory, deleted when the run closes. Not under the OS temp
 * directory, which the OS may clear under a running broker or Streams task (Kafka Streams warns of
 * it).
 */
public final class RunDirectory implements AutoCloseable {
  private final Path path;

  private RunDirectory(Path path) {
    this.path = path;
  }

  /** A new, empty directory {@code var/runs/<prefix>...}. */
  public static RunDirectory create(String prefix) throws IOException {
    Path runs = Files.createDirectories(Path.of("var", "runs"));
    return new RunDirectory(Files.createTempDirectory(runs, prefix).toAbsolutePath());
  }

  public Path path() {
    return path;
  }

  @Override
  public void close() {
    try (Stream<Path> tree = Files.walk(path)) {
      for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not delete the run's data at " + path, e);
    }
  }
}
