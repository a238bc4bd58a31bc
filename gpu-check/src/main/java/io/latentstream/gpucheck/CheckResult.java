package io.latentstream.gpucheck;

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

  /**
   * Compares element-wise; passes when the error relative to the output's scale is within tol. The
   * note names the worst element, for the details of a failure.
   */
  public static CheckResult compare(
      String section, String name, float[] ref, float[] gpu, int n, double tolerance) {
    double scale = 0;
    double maxAbs = 0;
    int worst = 0;
    boolean finite = true;
    for (int i = 0; i < n; i++) {
      scale = Math.max(scale, Math.abs(ref[i]));
      double d = Math.abs((double) gpu[i] - ref[i]);
      if (d > maxAbs) {
        maxAbs = d;
        worst = i;
      }
      finite &= Float.isFinite(gpu[i]) == Float.isFinite(ref[i]);
    }
    double maxRel = maxAbs / Math.max(scale, Float.MIN_NORMAL);
    boolean pass = finite && maxRel <= tolerance;
    String note =
        finite
            ? String.format(
                Locale.ROOT, "%d values, worst [%d] %.6g vs %.6g", n, worst, gpu[worst], ref[worst])
            : "non-finite output";
    return new CheckResult(
        section, name, maxAbs, maxRel, tolerance, pass ? Status.PASS : Status.FAIL, note);
  }

  /**
   * One row for several comparisons of one kind (prompts of a model): the largest errors, failing
   * when any failed, the note of the worst.
   */
  public static CheckResult worst(String name, java.util.List<CheckResult> parts) {
    CheckResult w = parts.get(0);
    boolean failed = false;
    for (CheckResult r : parts) {
      failed |= r.status() != Status.PASS;
      if (r.maxRel() > w.maxRel() || Double.isNaN(r.maxRel())) {
        w = r;
      }
    }
    return new CheckResult(
        w.section(),
        name,
        w.maxAbs(),
        w.maxRel(),
        w.tolerance(),
        failed ? Status.FAIL : Status.PASS,
        parts.size() + " runs; worst: " + w.note());
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
        "%-7s %-44s %-7s %9s %9s %8s  %s",
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
        "%-7s %-44s %-7s %9s %9s %8s  %s",
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
