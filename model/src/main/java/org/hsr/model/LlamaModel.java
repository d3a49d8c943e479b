package org.hsr.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import org.hsr.model.tensor.GgmlType;
import org.hsr.model.tensor.Matmul;
import org.hsr.model.tensor.WeightMatrix;

/**
 * A Llama-family decoder ready to run: shape, hyper-parameters and weights as stored matrices of any
 * {@link GgmlType}, from a llama2.c file ({@link #of(Llama2Model)}) or a GGUF file
 * ({@code org.hsr.model.gguf.GgufModel}). The {@link Transformer} runs both.
 *
 * <p>Closing the model releases what holds its weights (the mapping of a GGUF file) and the matmul threads; the
 * model must not be used afterwards.
 *
 * @param source     where the model came from, for messages
 * @param config     the shape; {@code seqLen} is the context the caches are sized for
 * @param hyper      RMSNorm epsilon and RoPE
 * @param embedding  (vocabSize, dim) token embeddings
 * @param layers     the blocks
 * @param outputNorm (dim) final RMSNorm weights
 * @param output     (vocabSize, dim) classifier (the embedding matrix when tied)
 * @param matmul     the threads the matmuls run on
 * @param resources  closed with the model (may be null)
 */
public record LlamaModel(String source, Llama2Config config, Hyper hyper, WeightMatrix embedding, Layer[] layers,
                         float[] outputNorm, WeightMatrix output, Matmul matmul, AutoCloseable resources)
        implements AutoCloseable {

    /**
     * Hyper-parameters beyond the shape.
     *
     * @param architecture  {@code llama} or {@code qwen2} (GGUF's {@code general.architecture})
     * @param rmsEps        RMSNorm epsilon
     * @param ropeTheta     RoPE base
     * @param ropeHalfSplit whether RoPE rotates the pairs {@code (j, j + headSize/2)} (NEOX, qwen2) rather than
     *                      adjacent pairs {@code (2j, 2j+1)} (llama2.c and GGUF {@code llama})
     * @param ropeFactors   (headSize/2) divisors of the RoPE frequencies (llama3 scaling), or null
     */
    public record Hyper(String architecture, float rmsEps, double ropeTheta, boolean ropeHalfSplit,
                        float[] ropeFactors) {
        /** llama2.c's: RMSNorm eps 1e-5, RoPE base 10000 on adjacent pairs, no scaling. */
        public static final Hyper LLAMA2C = new Hyper("llama", 1e-5f, 10000.0, false, null);
    }

    /**
     * One transformer block's weights.
     *
     * @param attnNorm (dim) RMSNorm before attention
     * @param wq       (dim, dim) query projection
     * @param wk       (kvDim, dim) key projection
     * @param wv       (kvDim, dim) value projection
     * @param wo       (dim, dim) attention output
     * @param bq       (dim) query bias, or null (qwen2 has them)
     * @param bk       (kvDim) key bias, or null
     * @param bv       (kvDim) value bias, or null
     * @param ffnNorm  (dim) RMSNorm before the feed-forward layer
     * @param w1       (hiddenDim, dim) SwiGLU gate
     * @param w2       (dim, hiddenDim) down projection
     * @param w3       (hiddenDim, dim) up projection
     */
    public record Layer(float[] attnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
                        float[] bq, float[] bk, float[] bv, float[] ffnNorm, WeightMatrix w1, WeightMatrix w2,
                        WeightMatrix w3) {}

    public LlamaModel {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(hyper, "hyper");
        if (layers.length != config.nLayers()) {
            throw new IllegalArgumentException("model " + source + ": " + layers.length + " layers != n_layers "
                    + config.nLayers());
        }
    }

    /**
     * The llama2.c model as a runnable model: its fp32 arrays copied into F32 matrices (in memory the garbage
     * collector frees), matmuls on the calling thread.
     */
    public static LlamaModel of(Llama2Model m) {
        return of(m, new Matmul(1));
    }

    /** The llama2.c model whose matmuls run on {@code matmul}. */
    public static LlamaModel of(Llama2Model m, Matmul matmul) {
        Llama2Config c = m.config();
        Llama2Weights w = m.weights();
        int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim();
        Arena arena = Arena.ofAuto();
        Layer[] layers = new Layer[c.nLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = new Layer(
                    java.util.Arrays.copyOfRange(w.rmsAttWeight, l * dim, (l + 1) * dim),
                    f32(arena, "wq", w.wq, l * dim * dim, dim, dim),
                    f32(arena, "wk", w.wk, l * kvDim * dim, kvDim, dim),
                    f32(arena, "wv", w.wv, l * kvDim * dim, kvDim, dim),
                    f32(arena, "wo", w.wo, l * dim * dim, dim, dim),
                    null, null, null,
                    java.util.Arrays.copyOfRange(w.rmsFfnWeight, l * dim, (l + 1) * dim),
                    f32(arena, "w1", w.w1, l * dim * hidden, hidden, dim),
                    f32(arena, "w2", w.w2, l * dim * hidden, dim, hidden),
                    f32(arena, "w3", w.w3, l * dim * hidden, hidden, dim));
        }
        WeightMatrix embedding = f32(arena, "token_embedding_table", w.tokenEmbeddingTable, 0, c.vocabSize(), dim);
        WeightMatrix output = c.sharedClassifier() ? embedding : f32(arena, "wcls", w.wcls, 0, c.vocabSize(), dim);
        return new LlamaModel(m.source(), c, Hyper.LLAMA2C, embedding, layers, w.rmsFinalWeight.clone(), output,
                matmul, null);
    }

    /** Copies {@code a[off .. off + rows·cols)} into a native F32 matrix. */
    private static WeightMatrix f32(Arena arena, String name, float[] a, int off, int rows, int cols) {
        MemorySegment seg = arena.allocate((long) rows * cols * Float.BYTES, 64);
        MemorySegment.copy(a, off, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                rows * cols);
        return new WeightMatrix(name, GgmlType.F32, rows, cols, seg);
    }

    /** Bytes of the stored weights (matrices and norms). */
    public long weightBytes() {
        long b = embedding.data().byteSize() + 4L * outputNorm.length
                + (output == embedding ? 0 : output.data().byteSize());
        for (Layer l : layers) {
            for (WeightMatrix w : new WeightMatrix[] {l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3}) {
                b += w.data().byteSize();
            }
            b += 4L * (l.attnNorm.length + l.ffnNorm.length);
        }
        return b;
    }

    @Override
    public void close() {
        matmul.close();
        if (resources != null) {
            try {
                resources.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing model " + source + ": " + e, e);
            }
        }
    }
}
