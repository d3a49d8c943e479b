package org.hsr.model.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.hsr.model.Llama2Config;
import org.hsr.model.Llama2Model;
import org.hsr.model.Llama2Weights;
import org.hsr.model.ModelFormatException;
import org.hsr.model.Tokenizer;
import org.hsr.model.tensor.GgmlType;

/**
 * Writes models as GGUF {@code llama} files: a llama2.c model and its tokenizer ({@link #writeLlama2c}), or a named
 * real shape with random weights for benchmarks ({@link #writeRandom}). Matrices are stored as the chosen type; a
 * matrix whose row length is not a multiple of that type's block size is stored as F16 instead (llama.cpp's converter
 * falls back the same way), norms as F32. llama2.c's RoPE already rotates adjacent pairs, GGUF {@code llama}'s
 * convention, so no row permutation is needed.
 */
public final class GgufConvert {

    /** GGUF token types ({@code llama_token_type}). */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, UNUSED = 5, BYTE = 6;

    /**
     * A named model shape.
     *
     * @param tiedEmbeddings whether the classifier is the embedding matrix
     * @param llama3Scaling  whether RoPE uses Llama 3.1's scaling (factor 32, low 1, high 4, original 8192)
     */
    public record Shape(String name, int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int context,
                        double ropeTheta, boolean tiedEmbeddings, boolean llama3Scaling) {}

    /** The shapes {@code --random} knows, by name (from each model's published config). */
    public static final Map<String, Shape> SHAPES = Map.of(
            "llama-3.2-1b", new Shape("llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, 131072, 500000, true, true),
            "llama-3.2-3b", new Shape("llama-3.2-3b", 3072, 8192, 28, 24, 8, 128256, 131072, 500000, true, true),
            "llama-3.1-8b", new Shape("llama-3.1-8b", 4096, 14336, 32, 32, 8, 128256, 131072, 500000, false, true),
            "tinyllama-1.1b", new Shape("tinyllama-1.1b", 2048, 5632, 22, 32, 4, 32000, 2048, 10000, false, false),
            "tiny", new Shape("tiny", 128, 384, 2, 4, 2, 512, 1024, 10000, true, false));

    private GgufConvert() {}

    /** The type a matrix of row length {@code cols} is stored as, when {@code type} was asked for. */
    public static GgmlType storedType(GgmlType type, long cols) {
        return cols % type.blockSize == 0 ? type : GgmlType.F16;
    }

    /** Writes a llama2.c model and its tokenizer as a GGUF file of matrix type {@code type}. */
    public static void writeLlama2c(Llama2Model m, Tokenizer tok, GgmlType type, Path out) throws IOException {
        llama2c(m, tok, type).write(out);
    }

    /** A llama2.c model and its tokenizer as a GGUF file of matrix type {@code type}, ready to write. */
    public static GgufWriter llama2c(Llama2Model m, Tokenizer tok, GgmlType type) throws ModelFormatException {
        Llama2Config c = m.config();
        if (tok.vocabSize() != c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer " + tok.source() + " has " + tok.vocabSize()
                    + " tokens, model " + m.source() + " has vocab_size " + c.vocabSize());
        }
        GgufWriter w = new GgufWriter();
        putShape(w, "llama2.c " + m.source(), c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(),
                c.seqLen(), 10000.0);

        // the vocabulary: pieces with their leading space as SentencePiece's "▁"
        String[] tokens = new String[c.vocabSize()];
        float[] scores = new float[c.vocabSize()];
        int[] types = new int[c.vocabSize()];
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        for (int i = 0; i < tokens.length; i++) {
            try {
                tokens[i] = decoder.decode(ByteBuffer.wrap(tok.piece(i))).toString().replace(' ', '\u2581');
            } catch (CharacterCodingException e) {
                throw new ModelFormatException("tokenizer " + tok.source() + ": token " + i + " is not UTF-8");
            }
            scores[i] = tok.score(i);
            types[i] = i == 0 ? UNKNOWN : i == Tokenizer.BOS || i == Tokenizer.EOS ? CONTROL
                    : i >= Tokenizer.BYTE_OFFSET && i < Tokenizer.BYTE_OFFSET + 256 ? BYTE : NORMAL;
        }
        w.putString("tokenizer.ggml.model", "llama").putStrings("tokenizer.ggml.tokens", tokens)
                .putFloats("tokenizer.ggml.scores", scores).putInts("tokenizer.ggml.token_type", types)
                .putUint32("tokenizer.ggml.bos_token_id", Tokenizer.BOS)
                .putUint32("tokenizer.ggml.eos_token_id", Tokenizer.EOS)
                .putUint32("tokenizer.ggml.unknown_token_id", 0)
                .putBool("tokenizer.ggml.add_bos_token", true).putBool("tokenizer.ggml.add_eos_token", false);

        // the tensors, llama2.c's arrays in GGUF's names
        Llama2Weights wt = m.weights();
        int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim();
        w.addTensor("token_embd.weight", storedType(type, dim), new long[] {dim, c.vocabSize()}, wt.tokenEmbeddingTable, 0);
        w.addTensor("output_norm.weight", GgmlType.F32, new long[] {dim}, wt.rmsFinalWeight, 0);
        if (!c.sharedClassifier()) {
            w.addTensor("output.weight", storedType(type, dim), new long[] {dim, c.vocabSize()}, wt.wcls, 0);
        }
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "blk." + l + ".";
            w.addTensor(p + "attn_norm.weight", GgmlType.F32, new long[] {dim}, wt.rmsAttWeight, l * dim);
            w.addTensor(p + "attn_q.weight", storedType(type, dim), new long[] {dim, dim}, wt.wq, l * dim * dim);
            w.addTensor(p + "attn_k.weight", storedType(type, dim), new long[] {dim, kvDim}, wt.wk, l * kvDim * dim);
            w.addTensor(p + "attn_v.weight", storedType(type, dim), new long[] {dim, kvDim}, wt.wv, l * kvDim * dim);
            w.addTensor(p + "attn_output.weight", storedType(type, dim), new long[] {dim, dim}, wt.wo, l * dim * dim);
            w.addTensor(p + "ffn_norm.weight", GgmlType.F32, new long[] {dim}, wt.rmsFfnWeight, l * dim);
            w.addTensor(p + "ffn_gate.weight", storedType(type, dim), new long[] {dim, hidden}, wt.w1, l * dim * hidden);
            w.addTensor(p + "ffn_down.weight", storedType(type, hidden), new long[] {hidden, dim}, wt.w2, l * dim * hidden);
            w.addTensor(p + "ffn_up.weight", storedType(type, dim), new long[] {dim, hidden}, wt.w3, l * dim * hidden);
        }
        return w;
    }

    /**
     * Writes a model of {@code shape} with random weights of type {@code type}: matrix entries uniform with standard
     * deviation {@code 1/sqrt(cols)} (so activations keep their scale through the layers), norms 1, a placeholder
     * vocabulary (BOS, EOS, the 256 byte tokens, the rest unused). For speed benchmarks only: such a model produces
     * noise, and its attention is not the peaked attention of a trained model.
     */
    public static void writeRandom(Shape s, GgmlType type, long seed, Path out) throws IOException {
        random(s, type, seed).write(out);
    }

    /** A model of {@code shape} with random weights (see {@link #writeRandom}), ready to write. */
    public static GgufWriter random(Shape s, GgmlType type, long seed) {
        GgufWriter w = new GgufWriter();
        putShape(w, "random " + s.name() + " (benchmark weights, seed " + seed + ")", s.dim(), s.hidden(), s.layers(),
                s.heads(), s.kvHeads(), s.context(), s.ropeTheta());
        int headSize = s.dim() / s.heads(), kvDim = s.kvHeads() * headSize;
        String[] tokens = new String[s.vocab()];
        float[] scores = new float[s.vocab()];
        int[] types = new int[s.vocab()];
        for (int i = 0; i < tokens.length; i++) {
            boolean isByte = i >= 3 && i < 259;
            tokens[i] = i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>"
                    : isByte ? String.format("<0x%02X>", i - 3) : "<unused" + i + ">";
            types[i] = i == 0 ? UNKNOWN : i < 3 ? CONTROL : isByte ? BYTE : UNUSED;
        }
        w.putString("tokenizer.ggml.model", "llama").putStrings("tokenizer.ggml.tokens", tokens)
                .putFloats("tokenizer.ggml.scores", scores).putInts("tokenizer.ggml.token_type", types)
                .putUint32("tokenizer.ggml.bos_token_id", 1).putUint32("tokenizer.ggml.eos_token_id", 2)
                .putBool("tokenizer.ggml.add_bos_token", true);

        List<Object[]> tensors = new ArrayList<>(); // name, cols, rows, is-norm
        tensors.add(new Object[] {"token_embd.weight", s.dim(), s.vocab(), false});
        tensors.add(new Object[] {"output_norm.weight", s.dim(), 1, true});
        if (!s.tiedEmbeddings()) tensors.add(new Object[] {"output.weight", s.dim(), s.vocab(), false});
        for (int l = 0; l < s.layers(); l++) {
            String p = "blk." + l + ".";
            tensors.add(new Object[] {p + "attn_norm.weight", s.dim(), 1, true});
            tensors.add(new Object[] {p + "attn_q.weight", s.dim(), s.dim(), false});
            tensors.add(new Object[] {p + "attn_k.weight", s.dim(), kvDim, false});
            tensors.add(new Object[] {p + "attn_v.weight", s.dim(), kvDim, false});
            tensors.add(new Object[] {p + "attn_output.weight", s.dim(), s.dim(), false});
            tensors.add(new Object[] {p + "ffn_norm.weight", s.dim(), 1, true});
            tensors.add(new Object[] {p + "ffn_gate.weight", s.dim(), s.hidden(), false});
            tensors.add(new Object[] {p + "ffn_down.weight", s.hidden(), s.dim(), false});
            tensors.add(new Object[] {p + "ffn_up.weight", s.dim(), s.hidden(), false});
        }
        if (s.llama3Scaling()) {
            float[] f = GgufModel.llama3Factors(headSize, s.ropeTheta(), 32, 1, 4, 8192);
            w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {f.length}, f, 0);
        }
        for (int i = 0; i < tensors.size(); i++) {
            Object[] t = tensors.get(i);
            int cols = (Integer) t[1], rows = (Integer) t[2];
            long tensorSeed = seed * 1_000_003L + i;
            if ((Boolean) t[3]) {
                float[] ones = new float[cols];
                Arrays.fill(ones, 1f);
                w.addTensor((String) t[0], GgmlType.F32, new long[] {cols}, ones, 0);
            } else {
                float a = (float) (Math.sqrt(3.0 / cols)); // uniform on [-a, a] has standard deviation 1/sqrt(cols)
                w.addTensor((String) t[0], storedType(type, cols), new long[] {cols, rows}, (r, row) -> {
                    SplittableRandom rnd = new SplittableRandom(tensorSeed * 31 + r);
                    for (int j = 0; j < row.length; j++) row[j] = a * (2 * (float) rnd.nextDouble() - 1);
                });
            }
        }
        return w;
    }

    private static void putShape(GgufWriter w, String name, int dim, int hidden, int layers, int heads, int kvHeads,
                                 int context, double theta) {
        w.putString("general.architecture", "llama").putString("general.name", name)
                .putUint32("llama.context_length", context).putUint32("llama.embedding_length", dim)
                .putUint32("llama.block_count", layers).putUint32("llama.feed_forward_length", hidden)
                .putUint32("llama.attention.head_count", heads).putUint32("llama.attention.head_count_kv", kvHeads)
                .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .putFloat32("llama.rope.freq_base", (float) theta)
                .putUint32("llama.rope.dimension_count", dim / heads);
    }
}
