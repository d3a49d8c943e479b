package org.hsr.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A llama2.c model: its configuration and weights, loaded from a version-0 ("legacy") llama2.c {@code .bin} file.
 *
 * <p>File layout (little-endian): a 28-byte header of 7 int32 ({@code dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len}), then float32 arrays in the order of {@link Llama2Weights} ({@code token_embedding_table,
 * rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight}), then the unused precomputed RoPE
 * tables {@code freq_cis_real, freq_cis_imag} ({@code seq_len × head_size/2} each), then, only when {@code vocab_size}
 * is negative, the classifier {@code wcls} ({@code vocab_size × dim}). With a shared classifier the RoPE tables may be
 * absent. The file size must be exactly what the header implies; anything else is refused with a
 * {@link ModelFormatException} that names the file.
 *
 * @param source  where the model came from (a path, or the embedded resource name), for messages
 * @param config  the header
 * @param weights the weights
 */
public record Llama2Model(String source, Llama2Config config, Llama2Weights weights) {

    /** Class-path resource (next to this class) of the model that ships with the project. */
    public static final String EMBEDDED_RESOURCE = "stories260K.bin";

    /** Bytes in the version-0 header: 7 int32. */
    static final int HEADER_BYTES = 7 * Integer.BYTES;
    /** llama2.c version-1/2 exports start with this int32 ("ak42" little-endian). */
    private static final int LLAMA2C_MAGIC = 0x616b3432;
    /** GGUF files start with this int32 ("GGUF" little-endian). */
    private static final int GGUF_MAGIC = 0x46554747;
    /** Largest float[] the JVM reliably allocates. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /** Loads a llama2.c version-0 model file. */
    public static Llama2Model load(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            throw new ModelFormatException("model file " + path + ": is a directory");
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > Integer.MAX_VALUE) {
                throw new ModelFormatException("model file " + path + ": " + size
                        + " bytes is more than this loader's 2 GiB limit");
            }
            return parse(path.toString(), channel.map(FileChannel.MapMode.READ_ONLY, 0, size));
        }
    }

    /** Loads the model that ships with the project ({@code stories260K}, see {@link #EMBEDDED_RESOURCE}). */
    public static Llama2Model loadEmbedded() throws IOException {
        return parse("embedded " + EMBEDDED_RESOURCE, ByteBuffer.wrap(readResource(EMBEDDED_RESOURCE)));
    }

    static byte[] readResource(String name) throws IOException {
        try (InputStream in = Llama2Model.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new ModelFormatException("embedded resource org/hsr/model/" + name + " is missing from the class path");
            }
            return in.readAllBytes();
        }
    }

    /** Parses a whole model file held in {@code file} (from its position to its limit). */
    static Llama2Model parse(String source, ByteBuffer file) throws ModelFormatException {
        String what = "model file " + source;
        ByteBuffer buf = file.slice().order(ByteOrder.LITTLE_ENDIAN);
        long size = buf.remaining();
        if (size < HEADER_BYTES) {
            throw new ModelFormatException(what + ": truncated: a llama2.c header needs " + HEADER_BYTES
                    + " bytes, file has " + size);
        }
        int first = buf.getInt(0);
        if (first == LLAMA2C_MAGIC) {
            throw new ModelFormatException(what + ": is a llama2.c version-1/2 export (magic \"ak42\"); "
                    + "only the version-0 (legacy) format is supported");
        }
        if (first == GGUF_MAGIC) {
            throw new ModelFormatException(what + ": is a GGUF file, not a llama2.c version-0 .bin model");
        }

        // header: 7 int32; a negative vocab_size means the classifier is stored after the RoPE tables
        int[] header = new int[7];
        for (int i = 0; i < header.length; i++) {
            header[i] = buf.getInt(i * Integer.BYTES);
        }
        Llama2Config config;
        try {
            config = new Llama2Config(header[0], header[1], header[2], header[3], header[4], Math.abs(header[5]),
                    header[6], header[5] > 0);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(what + ": not a llama2.c model (header " + Arrays.toString(header) + "): "
                    + e.getMessage());
        }

        // the file size must be exactly what the header implies
        long weightFloats = weightFloats(config);
        long ropeFloats = (long) config.seqLen() * config.headSize(); // freq_cis_real + freq_cis_imag
        long classifierFloats = config.sharedClassifier() ? 0 : (long) config.vocabSize() * config.dim();
        long fullBytes = HEADER_BYTES + Float.BYTES * (weightFloats + ropeFloats + classifierFloats);
        long noRopeBytes = HEADER_BYTES + Float.BYTES * weightFloats; // accepted only with a shared classifier
        boolean hasRope = size == fullBytes;
        if (!hasRope && !(config.sharedClassifier() && size == noRopeBytes)) {
            String implied = config.sharedClassifier()
                    ? fullBytes + " bytes (" + noRopeBytes + " without the RoPE tables)"
                    : fullBytes + " bytes";
            String problem = size < (config.sharedClassifier() ? noRopeBytes : fullBytes) ? "truncated" : "size mismatch";
            throw new ModelFormatException(what + ": " + problem + ": header (" + config + ") implies " + implied
                    + ", file has " + size);
        }

        // the float32 tensors, in file order
        Reader r = new Reader(what, buf.slice(HEADER_BYTES, (int) (size - HEADER_BYTES))
                .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer());
        int dim = config.dim();
        int kvDim = config.kvDim();
        int hidden = config.hiddenDim();
        long layers = config.nLayers();
        float[] tokenEmbeddingTable = r.next("token_embedding_table", (long) config.vocabSize() * dim);
        float[] rmsAttWeight = r.next("rms_att_weight", layers * dim);
        float[] wq = r.next("wq", layers * dim * dim);
        float[] wk = r.next("wk", layers * kvDim * dim);
        float[] wv = r.next("wv", layers * kvDim * dim);
        float[] wo = r.next("wo", layers * dim * dim);
        float[] rmsFfnWeight = r.next("rms_ffn_weight", layers * dim);
        float[] w1 = r.next("w1", layers * hidden * dim);
        float[] w2 = r.next("w2", layers * dim * hidden);
        float[] w3 = r.next("w3", layers * hidden * dim);
        float[] rmsFinalWeight = r.next("rms_final_weight", dim);
        if (hasRope) {
            r.skip(ropeFloats); // freq_cis_real, freq_cis_imag: RoPE is recomputed in the forward pass
        }
        float[] wcls = config.sharedClassifier()
                ? tokenEmbeddingTable
                : r.next("wcls", (long) config.vocabSize() * dim);
        assert r.floats.remaining() == 0;
        return new Llama2Model(source, config, new Llama2Weights(tokenEmbeddingTable, rmsAttWeight, wq, wk, wv, wo,
                rmsFfnWeight, w1, w2, w3, rmsFinalWeight, wcls));
    }

    /** Floats of the weights proper: everything but the RoPE tables and an unshared classifier. */
    static long weightFloats(Llama2Config c) {
        long dim = c.dim();
        long layers = c.nLayers();
        return c.vocabSize() * dim                      // token_embedding_table
                + layers * dim                          // rms_att_weight
                + layers * dim * dim                    // wq
                + 2 * layers * c.kvDim() * dim          // wk, wv
                + layers * dim * dim                    // wo
                + layers * dim                          // rms_ffn_weight
                + 3 * layers * c.hiddenDim() * dim      // w1, w2, w3
                + dim;                                  // rms_final_weight
    }

    /** Reads consecutive tensors and refuses non-finite weights. */
    private static final class Reader {
        final String what;
        final FloatBuffer floats;

        Reader(String what, FloatBuffer floats) {
            this.what = what;
            this.floats = floats;
        }

        float[] next(String name, long count) throws ModelFormatException {
            if (count > MAX_ARRAY) {
                throw new ModelFormatException(what + ": tensor " + name + " has " + count
                        + " floats, more than a Java array holds");
            }
            float[] a = new float[(int) count];
            floats.get(a);
            for (int i = 0; i < a.length; i++) {
                if (!Float.isFinite(a[i])) {
                    throw new ModelFormatException(what + ": tensor " + name + " holds a non-finite value (" + a[i]
                            + ") at index " + i);
                }
            }
            return a;
        }

        void skip(long count) {
            floats.position(floats.position() + (int) count);
        }
    }
}
