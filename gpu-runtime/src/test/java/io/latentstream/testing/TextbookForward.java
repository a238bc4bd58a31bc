package io.latentstream.testing;

import io.latentstream.model.ModelConfig;
import io.latentstream.weights.Checkpoint;
import io.latentstream.weights.TensorName;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * A second, independent forward pass written the way transformers' DeepseekV3 reads: keys and
 * values decompressed per head from kv_b_proj (no absorption, no cache), RoPE in the
 * de-interleave-then-rotate-half form, YaRN frequencies recomputed here, the router by sorting, the
 * whole sequence recomputed. The engine (absorbed, cached, batched) is tested against it.
 */
public final class TextbookForward {
  private final ModelConfig c;
  private final Checkpoint ck;

  public TextbookForward(Path dir) throws IOException {
    this.c = ModelConfig.load(dir);
    this.ck = Checkpoint.open(dir, Checkpoint.Progress.NONE);
    ck.setBlockSize(c.fp8BlockSize());
  }

  private float[][] w(String name, long rows, long cols) throws IOException {
    float[] flat = ck.read(name, rows, cols);
    float[][] m = new float[(int) rows][(int) cols];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(flat, (int) (r * cols), m[r], 0, (int) cols);
    }
    return m;
  }

  private static float[] mv(float[][] w, float[] x) {
    float[] y = new float[w.length];
    for (int r = 0; r < w.length; r++) {
      float s = 0;
      for (int i = 0; i < x.length; i++) {
        s += w[r][i] * x[i];
      }
      y[r] = s;
    }
    return y;
  }

  private float[] rms(String name, float[] x) throws IOException {
    float[] g = ck.read(name, x.length);
    double ss = 0;
    for (float v : x) {
      ss += v * v;
    }
    float inv = (float) (1 / Math.sqrt(ss / x.length + c.rmsNormEps()));
    float[] y = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      y[i] = g[i] * x[i] * inv;
    }
    return y;
  }

  /** Logits [T, vocab] for every position of the tokens. */
  public float[][] logits(int[] tokens) throws IOException {
    int t = tokens.length;
    int dim = c.hiddenSize();
    float[][] embed = w(TensorName.EMBED.in(), c.vocabSize(), dim);
    float[][] x = new float[t][];
    for (int i = 0; i < t; i++) {
      x[i] = embed[tokens[i]].clone();
    }
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      float[][] a = attention(l, x);
      for (int i = 0; i < t; i++) {
        float[] h = x[i];
        for (int d = 0; d < dim; d++) {
          h[d] += a[i][d];
        }
        float[] f = ffn(l, rms(TensorName.FFN_NORM.in(l), h));
        for (int d = 0; d < dim; d++) {
          h[d] += f[d];
        }
      }
    }
    float[][] head = w(TensorName.HEAD.in(), c.vocabSize(), dim);
    float[][] out = new float[t][];
    for (int i = 0; i < t; i++) {
      out[i] = mv(head, rms(TensorName.NORM.in(), x[i]));
    }
    return out;
  }

  private float[][] attention(int l, float[][] x) throws IOException {
    int t = x.length;
    int dim = c.hiddenSize();
    int nh = c.numAttentionHeads();
    int nope = c.qkNopeHeadDim();
    int rope = c.qkRopeHeadDim();
    int vd = c.vHeadDim();
    int r = c.kvLoraRank();
    float[][] kvB = w(TensorName.WKV_B.in(l), nh * (nope + vd), r);
    float[][] wo = w(TensorName.WO.in(l), dim, nh * vd);
    float[][] wkvA = w(TensorName.WKV_A.in(l), r + rope, dim);
    float[][][] q = new float[t][][];
    float[][][] k = new float[t][][];
    float[][][] v = new float[t][][];
    for (int i = 0; i < t; i++) {
      float[] xn = rms(TensorName.ATTN_NORM.in(l), x[i]);
      float[] qAll;
      if (c.qLoraRank() > 0) {
        float[] qa = mv(w(TensorName.WQ_A.in(l), c.qLoraRank(), dim), xn);
        qAll =
            mv(
                w(TensorName.WQ_B.in(l), nh * (nope + rope), c.qLoraRank()),
                rms(TensorName.Q_NORM.in(l), qa));
      } else {
        qAll = mv(w(TensorName.WQ.in(l), nh * (nope + rope), dim), xn);
      }
      float[] kvA = mv(wkvA, xn);
      float[] ckv = rms(TensorName.KV_NORM.in(l), Arrays.copyOf(kvA, r));
      float[] kpe = ropeHf(Arrays.copyOfRange(kvA, r, r + rope), i);
      float[] kv = mv(kvB, ckv);
      q[i] = new float[nh][];
      k[i] = new float[nh][];
      v[i] = new float[nh][];
      for (int h = 0; h < nh; h++) {
        float[] qh = Arrays.copyOfRange(qAll, h * (nope + rope), (h + 1) * (nope + rope));
        float[] qpe = ropeHf(Arrays.copyOfRange(qh, nope, nope + rope), i);
        System.arraycopy(qpe, 0, qh, nope, rope);
        q[i][h] = qh;
        float[] kh = new float[nope + rope];
        System.arraycopy(kv, h * (nope + vd), kh, 0, nope);
        System.arraycopy(kpe, 0, kh, nope, rope);
        k[i][h] = kh;
        v[i][h] = Arrays.copyOfRange(kv, h * (nope + vd) + nope, (h + 1) * (nope + vd));
      }
    }
    double scale = 1 / Math.sqrt(nope + rope);
    if (c.ropeScaling() != null && c.ropeScaling().mscaleAllDim() != 0) {
      double m = 0.1 * c.ropeScaling().mscaleAllDim() * Math.log(c.ropeScaling().factor()) + 1;
      scale *= m * m;
    }
    float[][] out = new float[t][];
    for (int i = 0; i < t; i++) {
      float[] heads = new float[nh * vd];
      for (int h = 0; h < nh; h++) {
        double[] p = new double[i + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= i; j++) {
          float s = 0;
          for (int d = 0; d < nope + rope; d++) {
            s += q[i][h][d] * k[j][h][d];
          }
          p[j] = s * scale;
          max = Math.max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) {
          p[j] = Math.exp(p[j] - max);
          sum += p[j];
        }
        for (int j = 0; j <= i; j++) {
          for (int d = 0; d < vd; d++) {
            heads[h * vd + d] += (float) (p[j] / sum) * v[j][h][d];
          }
        }
      }
      out[i] = mv(wo, heads);
    }
    return out;
  }

  /** transformers' interleaved RoPE: de-interleave (x0,x2,..,x1,x3,..), rotate_half, cos/sin. */
  private float[] ropeHf(float[] x, int pos) {
    int d = x.length;
    double[] inv = invFreq();
    double att = attentionFactor();
    float[] y = new float[d];
    for (int i = 0; i < d / 2; i++) {
      y[i] = x[2 * i];
      y[i + d / 2] = x[2 * i + 1];
    }
    float[] out = new float[d];
    for (int j = 0; j < d; j++) {
      double ang = pos * inv[j % (d / 2)];
      double rot = j < d / 2 ? -y[j + d / 2] : y[j - d / 2];
      out[j] = (float) (y[j] * Math.cos(ang) * att + rot * Math.sin(ang) * att);
    }
    return out;
  }

  private double[] invFreq() {
    int dim = c.qkRopeHeadDim();
    double base = c.ropeTheta();
    double[] inv = new double[dim / 2];
    ModelConfig.Yarn y = c.ropeScaling();
    for (int i = 0; i < dim / 2; i++) {
      double extra = 1 / Math.pow(base, 2.0 * i / dim);
      if (y == null) {
        inv[i] = extra;
        continue;
      }
      double low =
          Math.max(0, Math.floor(corr(y.betaFast(), dim, base, y.originalMaxPositionEmbeddings())));
      double high =
          Math.min(
              dim - 1, Math.ceil(corr(y.betaSlow(), dim, base, y.originalMaxPositionEmbeddings())));
      double ramp = Math.min(1, Math.max(0, (i - low) / (high == low ? 0.001 : high - low)));
      double keepExtra = 1 - ramp;
      inv[i] = extra / y.factor() * ramp + extra * keepExtra;
    }
    return inv;
  }

  private static double corr(double rot, int dim, double base, int maxPos) {
    return dim * Math.log(maxPos / (rot * 2 * Math.PI)) / (2 * Math.log(base));
  }

  private double attentionFactor() {
    ModelConfig.Yarn y = c.ropeScaling();
    if (y == null) {
      return 1;
    }
    java.util.function.DoubleBinaryOperator m = (s, ms) -> s <= 1 ? 1 : 0.1 * ms * Math.log(s) + 1;
    return y.mscale() != 0 && y.mscaleAllDim() != 0
        ? m.applyAsDouble(y.factor(), y.mscale()) / m.applyAsDouble(y.factor(), y.mscaleAllDim())
        : m.applyAsDouble(y.factor(), 1);
  }

  private float[] mlp(String w1, String w3, String w2, int inter, float[] x) throws IOException {
    int dim = c.hiddenSize();
    float[] g = mv(w(w1, inter, dim), x);
    float[] u = mv(w(w3, inter, dim), x);
    for (int i = 0; i < inter; i++) {
      g[i] = (float) (g[i] / (1 + Math.exp(-g[i]))) * u[i];
    }
    return mv(w(w2, dim, inter), g);
  }

  private float[] ffn(int l, float[] x) throws IOException {
    if (!c.isMoeLayer(l)) {
      return mlp(
          TensorName.MLP_W1.in(l),
          TensorName.MLP_W3.in(l),
          TensorName.MLP_W2.in(l),
          c.intermediateSize(),
          x);
    }
    int ne = c.nRoutedExperts();
    float[] logits = mv(w(TensorName.GATE.in(l), ne, c.hiddenSize()), x);
    double[] scores = new double[ne];
    if (c.scoringFunc() == ModelConfig.ScoringFunc.SIGMOID) {
      for (int e = 0; e < ne; e++) {
        scores[e] = 1 / (1 + Math.exp(-logits[e]));
      }
    } else {
      double max = IntStream.range(0, ne).mapToDouble(e -> logits[e]).max().getAsDouble();
      double sum = IntStream.range(0, ne).mapToDouble(e -> Math.exp(logits[e] - max)).sum();
      for (int e = 0; e < ne; e++) {
        scores[e] = Math.exp(logits[e] - max) / sum;
      }
    }
    double[] choice = scores.clone();
    if (c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC) {
      float[] bias = ck.read(TensorName.GATE_BIAS.in(l), ne);
      for (int e = 0; e < ne; e++) {
        choice[e] += bias[e];
      }
    }
    if (c.topkMethod() != ModelConfig.TopkMethod.GREEDY && c.nGroup() > 1) {
      int per = ne / c.nGroup();
      double[] group = new double[c.nGroup()];
      for (int g = 0; g < c.nGroup(); g++) {
        double[] vals = Arrays.copyOfRange(choice, g * per, (g + 1) * per);
        Arrays.sort(vals);
        group[g] =
            c.topkMethod() == ModelConfig.TopkMethod.NOAUX_TC
                ? vals[per - 1] + vals[per - 2]
                : vals[per - 1];
      }
      Integer[] order = IntStream.range(0, c.nGroup()).boxed().toArray(Integer[]::new);
      Arrays.sort(order, Comparator.comparingDouble(g -> -group[g]));
      boolean[] keep = new boolean[c.nGroup()];
      for (int i = 0; i < c.topkGroup(); i++) {
        keep[order[i]] = true;
      }
      for (int e = 0; e < ne; e++) {
        if (!keep[e / per]) {
          choice[e] = 0;
        }
      }
    }
    Integer[] order = IntStream.range(0, ne).boxed().toArray(Integer[]::new);
    Arrays.sort(order, Comparator.comparingDouble(e -> -choice[e]));
    int[] top = new int[c.numExpertsPerTok()];
    double sum = 0;
    for (int i = 0; i < top.length; i++) {
      top[i] = order[i];
      sum += scores[top[i]];
    }
    Arrays.sort(top);
    float[] y = new float[c.hiddenSize()];
    for (int e : top) {
      double wgt = scores[e];
      if (c.normTopkProb()) {
        wgt /= sum + 1e-20;
      }
      wgt *= c.routedScalingFactor();
      float[] o =
          mlp(
              TensorName.EXPERT_W1.in(l, e),
              TensorName.EXPERT_W3.in(l, e),
              TensorName.EXPERT_W2.in(l, e),
              c.moeIntermediateSize(),
              x);
      for (int d = 0; d < y.length; d++) {
        y[d] += (float) wgt * o[d];
      }
    }
    if (c.nSharedExperts() > 0) {
      float[] s =
          mlp(
              TensorName.SHARED_W1.in(l),
              TensorName.SHARED_W3.in(l),
              TensorName.SHARED_W2.in(l),
              c.moeIntermediateSize() * c.nSharedExperts(),
              x);
      for (int d = 0; d < y.length; d++) {
        y[d] += s[d];
      }
    }
    return y;
  }
}
