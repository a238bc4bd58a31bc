package io.latentstream.backend.cuda;

import java.util.Locale;

/**
 * One line of {@link GpuCheck}'s table: a kernel or engine check against its CPU reference (max
 * absolute and relative error against a stated tolerance), or a benchmark figure.
 *
 * @param maxRel the largest |gpu - ref| over the largest |ref|: the error relative to the output's
 *     scale, so that outputs near zero (where any rounding is a large relative error) do not decide
 */
public record CheckResult(
    String section,
    String name,
    double maxAbs,
    double maxRel,
    double tolerance,
    Status status,
    String note) {
  public enum Status {
    PASS,
    FAIL,
    ERROR,
    TIMEOUT,
    SKIP,
    INFO
  }

  /** Compares element-wise; passes when the error relative to the output's scale is within tol. */
  public static CheckResult compare(
      String section, String name, float[] ref, float[] gpu, int n, double tolerance) {
    double scale = 0;
    double maxAbs = 0;
    boolean finite = true;
    for (int i = 0; i < n; i++) {
      scale = Math.max(scale, Math.abs(ref[i]));
      maxAbs = Math.max(maxAbs, Math.abs((double) gpu[i] - ref[i]));
      finite &= Float.isFinite(gpu[i]) == Float.isFinite(ref[i]);
    }
    double maxRel = maxAbs / Math.max(scale, Float.MIN_NORMAL);
    boolean pass = finite && maxRel <= tolerance;
    return new CheckResult(
        section,
        name,
        maxAbs,
        maxRel,
        tolerance,
        pass ? Status.PASS : Status.FAIL,
        finite ? n + " values" : "non-finite output");
  }

  /** An exact comparison: passes when every value is bitwise equal. */
  public static CheckResult exact(String section, String name, int mismatches, int n) {
    return new CheckResult(
        section,
        name,
        Double.NaN,
        Double.NaN,
        0,
        mismatches == 0 ? Status.PASS : Status.FAIL,
        mismatches + " of " + n + " differ (bitwise)");
  }

  public static CheckResult info(String section, String name, String note) {
    return new CheckResult(section, name, Double.NaN, Double.NaN, Double.NaN, Status.INFO, note);
  }

  public static CheckResult failed(String section, String name, Status status, String note) {
    return new CheckResult(section, name, Double.NaN, Double.NaN, Double.NaN, status, note);
  }

  /** One table row: section, name, status, errors, tolerance, note. */
  public String row() {
    return String.format(
        Locale.ROOT,
        "%-8s %-34s %-7s %10s %10s %9s  %s",
        section,
        name,
        status,
        number(maxAbs),
        number(maxRel),
        number(tolerance),
        note);
  }

  public static String header() {
    return String.format(
        Locale.ROOT,
        "%-8s %-34s %-7s %10s %10s %9s  %s",
        "section",
        "check",
        "status",
        "max abs",
        "max rel",
        "tol",
        "note");
  }

  private static String number(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2e", v);
  }
}
