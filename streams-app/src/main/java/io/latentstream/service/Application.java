package io.latentstream.service;

import io.micronaut.runtime.Micronaut;

/** Entry point of the latentstream service: a Micronaut application hosting the topology. */
public final class Application {
  private Application() {}

  public static void main(String[] args) {
    Micronaut.run(Application.class, args);
  }
}
