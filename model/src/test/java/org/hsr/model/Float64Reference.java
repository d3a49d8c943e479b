package org.hsr.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An independent float64 re-implementation of the stories260K forward pass for tests: it reads the weights at the byte
 * offsets documented in {@code /work/shared/models/README.md} (not through {@link Llama2Model}), and runs plain double
 * loops with its own KV cache. Softmax attention, or ReLU^alpha with a bias.
 */
final class Float64Reference {

    static final int DIM = 64, HIDDEN = 172, LAYERS = 5, HEADS = 8, KV_HEADS = 4, VOCAB = 512, SEQ = 512;
    static final int HEAD = DIM / HEADS, KV_DIM = KV_HEADS * HEAD;

    private final double[] emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal;
    private final double[][] keys = new double[LAYERS][SEQ * KV_DIM];
    private final double[][] values = new double[LAYERS][SEQ * KV_DIM];
    private final boolean relu;
    private final double bias;
    private final int alpha;

    /** Softmax attention. */
    Float64Reference(byte[] file) {
        this(file, false, 0, 1);
    }

    Float64Reference(byte[] file, boolean relu, double bias, int alpha) {
        if (file.length != 1_056_540) {
            throw new IllegalArgumentException("not the README's stories260K.bin: " + file.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int[] header = new int[7];
        for (int i = 0; i < 7; i++) {
            header[i] = b.getInt(4 * i);
        }
        if (!java.util.Arrays.equals(header, new int[] {64, 172, 5, 8, 4, 512, 512})) {
            throw new IllegalArgumentException("unexpected header " + java.util.Arrays.toString(header));
        }
        // byte offsets from the README's table
        emb = read(b, 28, 32768);
        rmsAtt = read(b, 131100, 320);
        wq = read(b, 132380, 20480);
        wk = read(b, 214300, 10240);
        wv = read(b, 255260, 10240);
        wo = read(b, 296220, 20480);
        rmsFfn = read(b, 378140, 320);
        w1 = read(b, 379420, 55040);
        w2 = read(b, 599580, 55040);
        w3 = read(b, 819740, 55040);
        rmsFinal = read(b, 1039900, 64);
        this.relu = relu;
        this.bias = bias;
        this.alpha = alpha;
    }

    private static double[] read(ByteBuffer b, int offset, int count) {
        double[] a = new double[count];
        for (int i = 0; i < count; i++) {
            a[i] = b.getFloat(offset + 4 * i);
        }
        return a;
    }

    /** Logits after reading {@code token} at {@code pos}; positions must be fed 0, 1, 2, … */
    double[] forward(int token, int pos) {
        double[] x = new double[DIM];
        System.arraycopy(emb, token * DIM, x, 0, DIM);
        for (int l = 0; l < LAYERS; l++) {
            double[] xn = rmsnorm(x, rmsAtt, l * DIM);
            double[] q = matvec(wq, l * DIM * DIM, xn, DIM, DIM);
            double[] k = matvec(wk, l * KV_DIM * DIM, xn, KV_DIM, DIM);
            double[] v = matvec(wv, l * KV_DIM * DIM, xn, KV_DIM, DIM);
            rope(q, pos);
            rope(k, pos);
            System.arraycopy(k, 0, keys[l], pos * KV_DIM, KV_DIM);
            System.arraycopy(v, 0, values[l], pos * KV_DIM, KV_DIM);
            double[] att = new double[DIM];
            for (int h = 0; h < HEADS; h++) {
                int kvh = h / (HEADS / KV_HEADS);
                double[] w = new double[pos + 1];
                for (int t = 0; t <= pos; t++) {
                    double s = 0;
                    for (int i = 0; i < HEAD; i++) {
                        s += q[h * HEAD + i] * keys[l][t * KV_DIM + kvh * HEAD + i];
                    }
                    w[t] = s / Math.sqrt(HEAD);
                }
                if (relu) {
                    for (int t = 0; t <= pos; t++) {
                        w[t] = Math.pow(Math.max(w[t] - bias, 0), alpha);
                    }
                } else {
                    double max = Double.NEGATIVE_INFINITY;
                    for (double s : w) {
                        max = Math.max(max, s);
                    }
                    for (int t = 0; t <= pos; t++) {
                        w[t] = Math.exp(w[t] - max);
                    }
                }
                double sum = 0;
                for (double wt : w) {
                    sum += wt;
                }
                for (int t = 0; t <= pos && sum > 0; t++) {
                    for (int i = 0; i < HEAD; i++) {
                        att[h * HEAD + i] += w[t] / sum * values[l][t * KV_DIM + kvh * HEAD + i];
                    }
                }
            }
            double[] o = matvec(wo, l * DIM * DIM, att, DIM, DIM);
            for (int i = 0; i < DIM; i++) {
                x[i] += o[i];
            }
            xn = rmsnorm(x, rmsFfn, l * DIM);
            double[] gate = matvec(w1, l * HIDDEN * DIM, xn, HIDDEN, DIM);
            double[] up = matvec(w3, l * HIDDEN * DIM, xn, HIDDEN, DIM);
            double[] hidden = new double[HIDDEN];
            for (int i = 0; i < HIDDEN; i++) {
                hidden[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
            }
            double[] down = matvec(w2, l * DIM * HIDDEN, hidden, DIM, HIDDEN);
            for (int i = 0; i < DIM; i++) {
                x[i] += down[i];
            }
        }
        double[] xn = rmsnorm(x, rmsFinal, 0);
        return matvec(emb, 0, xn, VOCAB, DIM); // tied classifier
    }

    private static double[] rmsnorm(double[] x, double[] weight, int off) {
        double ss = 0;
        for (double xi : x) {
            ss += xi * xi;
        }
        double inv = 1 / Math.sqrt(ss / x.length + 1e-5);
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            o[i] = weight[off + i] * x[i] * inv;
        }
        return o;
    }

    private static double[] matvec(double[] w, int off, double[] x, int rows, int cols) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) {
                s += w[off + r * cols + c] * x[c];
            }
            y[r] = s;
        }
        return y;
    }

    /** Rotates the interleaved pairs (2j, 2j+1) of every head by pos * 10000^(-2j/HEAD). */
    private static void rope(double[] vec, int pos) {
        for (int head = 0; head < vec.length / HEAD; head++) {
            for (int j = 0; j < HEAD / 2; j++) {
                double angle = pos * Math.pow(10000, -2.0 * j / HEAD);
                int i = head * HEAD + 2 * j;
                double a = vec[i], b = vec[i + 1];
                vec[i] = a * Math.cos(angle) - b * Math.sin(angle);
                vec[i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
            }
        }
    }

    /** Mean negative log-likelihood (nats) of tokens[1..] given their prefixes. */
    double meanNll(int[] tokens) {
        double sum = 0;
        for (int pos = 0; pos + 1 < tokens.length; pos++) {
            double[] logits = forward(tokens[pos], pos);
            double max = Double.NEGATIVE_INFINITY;
            for (double z : logits) {
                max = Math.max(max, z);
            }
            double z = 0;
            for (double li : logits) {
                z += Math.exp(li - max);
            }
            sum += max + Math.log(z) - logits[tokens[pos + 1]];
        }
        return sum / (tokens.length - 1);
    }
}
