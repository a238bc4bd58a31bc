package io.latentstream.backend.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parameter list of each kernel as its PTX declares it, so that a launch with the wrong number
 * or width of arguments fails with a message naming the kernel and the argument instead of running
 * on garbage (the driver API cannot tell).
 */
final class PtxSignatures {
  /** What a PTX parameter holds: 32-bit integer, 64-bit (pointer or long long), or float. */
  enum Kind {
    INT,
    WIDE,
    FLOAT;

    static Kind of(String ptxType) {
      return switch (ptxType) {
        case "u32", "s32", "b32" -> INT;
        case "u64", "s64", "b64" -> WIDE;
        case "f32" -> FLOAT;
        default -> throw new IllegalArgumentException("unexpected PTX parameter type ." + ptxType);
      };
    }

    boolean accepts(Object arg) {
      return switch (this) {
        case INT -> arg instanceof Integer;
        case WIDE -> arg == null || arg instanceof jcuda.driver.CUdeviceptr || arg instanceof Long;
        case FLOAT -> arg instanceof Float;
      };
    }
  }

  private static final Pattern ENTRY =
      Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
  private static final Pattern PARAM = Pattern.compile("\\.param\\s+\\.(\\w+)\\s+\\w+");

  private PtxSignatures() {}

  /** Entry name to its parameter kinds, for every entry of a PTX module. */
  static Map<String, List<Kind>> parse(String ptx) {
    Map<String, List<Kind>> out = new HashMap<>();
    Matcher e = ENTRY.matcher(ptx);
    while (e.find()) {
      List<Kind> kinds = new ArrayList<>();
      Matcher p = PARAM.matcher(e.group(2));
      while (p.find()) {
        kinds.add(Kind.of(p.group(1)));
      }
      out.put(e.group(1), List.copyOf(kinds));
    }
    return out;
  }

  /** Throws when args do not fit the kernel's declared parameters. */
  static void check(CudaKernel kernel, List<Kind> params, Object[] args) {
    if (args.length != params.size()) {
      throw new IllegalArgumentException(
          kernel.entry() + " takes " + params.size() + " arguments, " + args.length + " given");
    }
    for (int i = 0; i < args.length; i++) {
      if (!params.get(i).accepts(args[i])) {
        throw new IllegalArgumentException(
            kernel.entry()
                + " argument "
                + i
                + " must be "
                + params.get(i)
                + ", got "
                + (args[i] == null ? "null" : args[i].getClass().getSimpleName()));
      }
    }
  }
}
