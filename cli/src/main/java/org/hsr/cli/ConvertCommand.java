package org.hsr.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import org.hsr.model.Llama2Model;
import org.hsr.model.Tokenizer;
import org.hsr.model.gguf.GgufConvert;
import org.hsr.model.gguf.GgufWriter;
import org.hsr.model.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hsr convert}: a llama2.c model (default: the embedded stories260K) and its tokenizer written as a GGUF file,
 * or a model of a named real shape with random weights ({@code --random}), for benchmarks.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Write a llama2.c model as GGUF, or a GGUF model of a named shape with random weights.",
                "Matrices whose row length is not a multiple of the type's block size are stored as F16."})
final class ConvertCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "M", description = "llama2.c .bin model (default: the embedded stories260K)")
    Path model;
    @Option(names = "--tokenizer", paramLabel = "T", description = "its llama2.c tokenizer (default: the embedded tok512)")
    Path tokenizer;
    @Option(names = "--random", paramLabel = "SHAPE", description = "instead of --model: random weights of this shape")
    String random;
    @Option(names = "--seed", defaultValue = "1", description = "seed of --random (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--type", defaultValue = "f32", paramLabel = "TYPE",
            description = "matrix type: f32, f16, bf16, q8_0 or q4_0 (default: ${DEFAULT-VALUE})")
    String type;
    @Option(names = "--out", required = true, paramLabel = "F", description = "GGUF file to write") Path out;

    /** The matrix type of a {@code --type} value. */
    static GgmlType type(String type) {
        return switch (type.toLowerCase(Locale.ROOT)) {
            case "f32" -> GgmlType.F32;
            case "f16" -> GgmlType.F16;
            case "bf16" -> GgmlType.BF16;
            case "q8_0" -> GgmlType.Q8_0;
            case "q4_0" -> GgmlType.Q4_0;
            default -> throw new UsageException("--type must be f32, f16, bf16, q8_0 or q4_0, got " + type);
        };
    }

    /** The shape of a {@code --random} name. */
    static GgufConvert.Shape shape(String name) {
        GgufConvert.Shape shape = GgufConvert.SHAPES.get(name);
        if (shape == null) {
            throw new UsageException("--random: unknown shape " + name + " (known: "
                    + String.join(", ", new TreeSet<>(GgufConvert.SHAPES.keySet())) + ")");
        }
        return shape;
    }

    @Override
    public Integer call() throws Exception {
        CliIO.checkOutputs(List.of(CliIO.named("--model", model), CliIO.named("--tokenizer", tokenizer)),
                List.of(CliIO.named("--out", out)));
        GgmlType t = type(type);
        if (random != null && (model != null || tokenizer != null)) {
            throw new UsageException("--random writes random weights: it takes no --model or --tokenizer");
        }
        GgufConvert.Shape shape = random == null ? null : shape(random);
        long start = System.nanoTime();
        GgufWriter w;
        if (shape != null) {
            w = GgufConvert.random(shape, t, seed);
        } else {
            Llama2Model m = model == null ? Llama2Model.loadEmbedded() : Llama2Model.load(model);
            Tokenizer tok = tokenizer == null ? Tokenizer.loadEmbedded() : Tokenizer.load(tokenizer, m.config().vocabSize());
            if (tok.vocabSize() != m.config().vocabSize()) {
                throw new UsageException("model " + m.source() + " has vocab_size " + m.config().vocabSize()
                        + ", the tokenizer has " + tok.vocabSize() + " tokens: pass its --tokenizer");
            }
            w = GgufConvert.llama2c(m, tok, t);
        }
        // written like every other output (CliIO.Outputs): a temporary renamed into place, a device or FIFO in place
        AtomicLong bytes = new AtomicLong();
        new CliIO.Outputs().file(out, ch -> w.write(new Counting(ch, bytes))).write();
        System.err.printf("hsr convert: wrote %s (%d bytes, %s) in %.1f s%n", out, bytes.get(), t,
                (System.nanoTime() - start) / 1e9);
        return 0;
    }

    /** A channel that counts the bytes written through it (a FIFO or a device has no size to ask for afterwards). */
    private record Counting(WritableByteChannel ch, AtomicLong count) implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            int k = ch.write(src);
            count.addAndGet(k);
            return k;
        }

        @Override
        public boolean isOpen() {
            return ch.isOpen();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
