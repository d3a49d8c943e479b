package org.hsr.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2ModelTest {

    private static final byte[] FILE = ModelFixtures.resource(Llama2Model.EMBEDDED_RESOURCE);

    @TempDir
    Path tmp;

    @Test
    void loadsTheEmbeddedModelWithTheReadmeHeader() {
        Llama2Config c = ModelFixtures.MODEL.config();
        assertEquals(new Llama2Config(64, 172, 5, 8, 4, 512, 512, true), c);
        assertEquals(8, c.headSize());
        assertEquals(32, c.kvDim());
        assertEquals(2, c.kvMul());
        assertEquals(1_056_540, FILE.length);
        Llama2Weights w = ModelFixtures.MODEL.weights();
        assertSame(w.tokenEmbeddingTable, w.wcls);
        // spot checks against the README's byte offsets
        ByteBuffer b = ByteBuffer.wrap(FILE).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(b.getFloat(28), w.tokenEmbeddingTable[0]);
        assertEquals(b.getFloat(132380 + 4 * 777), w.wq[777]);
        assertEquals(b.getFloat(599580 + 4 * 55039), w.w2[55039]);
        assertEquals(b.getFloat(1039900 + 4 * 63), w.rmsFinalWeight[63]);
        assertEquals(260_032, Llama2Model.weightFloats(c), "README: 260,032 trained parameters");
    }

    @Test
    void loadFromPathEqualsEmbedded() throws Exception {
        Path p = tmp.resolve("stories260K.bin");
        Files.write(p, FILE);
        Llama2Model m = Llama2Model.load(p);
        assertEquals(ModelFixtures.MODEL.config(), m.config());
        assertArrayEquals(ModelFixtures.MODEL.weights().w3, m.weights().w3);
        assertEquals(p.toString(), m.source());
    }

    @Test
    void withoutTheRopeTablesIsAccepted() throws Exception {
        Path p = tmp.resolve("norope.bin");
        Files.write(p, Arrays.copyOf(FILE, 1_040_156));
        assertArrayEquals(ModelFixtures.MODEL.weights().rmsFinalWeight, Llama2Model.load(p).weights().rmsFinalWeight);
    }

    @Test
    void unsharedClassifierIsReadAfterTheRopeTables() throws Exception {
        // negative vocab_size, then an explicit classifier (here: the embedding table scaled by 2)
        byte[] f = Arrays.copyOf(FILE, FILE.length + 512 * 64 * 4);
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(20, -512);
        for (int i = 0; i < 512 * 64; i++) {
            b.putFloat(FILE.length + 4 * i, 2 * b.getFloat(28 + 4 * i));
        }
        Path p = tmp.resolve("unshared.bin");
        Files.write(p, f);
        Llama2Model m = Llama2Model.load(p);
        assertTrue(!m.config().sharedClassifier());
        assertEquals(512, m.config().vocabSize());
        assertEquals(2 * m.weights().tokenEmbeddingTable[12345], m.weights().wcls[12345]);
        // logits are then exactly twice those of the shared model
        float[] shared = new Transformer(ModelFixtures.MODEL, new DenseSoftmaxAttention(m.config())).forward(1, 0);
        float[] unshared = new Transformer(m, new DenseSoftmaxAttention(m.config())).forward(1, 0);
        for (int i = 0; i < shared.length; i++) {
            assertEquals(2 * shared[i], unshared[i], 1e-5f * Math.max(1, Math.abs(unshared[i])));
        }
        // without its classifier the unshared file is truncated
        Files.write(p, Arrays.copyOf(f, FILE.length));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().contains(": truncated: header (dim=64, hidden_dim=172, n_layers=5, n_heads=8, "
                + "n_kv_heads=4, vocab_size=-512, seq_len=512) implies 1187612 bytes, file has 1056540"), e.getMessage());
    }

    @Test
    void truncatedModelFile() throws Exception {
        Path p = tmp.resolve("truncated.bin");
        Files.write(p, Arrays.copyOf(FILE, 1000));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertEquals("model file " + p + ": truncated: header (dim=64, hidden_dim=172, n_layers=5, n_heads=8, "
                + "n_kv_heads=4, vocab_size=512, seq_len=512) implies 1056540 bytes (1040156 without the RoPE tables), "
                + "file has 1000", e.getMessage());
        Files.write(p, Arrays.copyOf(FILE, 20));
        e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertEquals("model file " + p + ": truncated: a llama2.c header needs 28 bytes, file has 20", e.getMessage());
    }

    @Test
    void extraBytesAreASizeMismatch() throws Exception {
        Path p = tmp.resolve("longer.bin");
        Files.write(p, Arrays.copyOf(FILE, FILE.length + 4));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().contains(": size mismatch: header ("), e.getMessage());
        assertTrue(e.getMessage().endsWith("file has 1056544"), e.getMessage());
    }

    @Test
    void theTokenizerFileIsNotAModel() throws Exception {
        Path p = tmp.resolve("tok512.bin");
        Files.write(p, ModelFixtures.resource(Tokenizer.EMBEDDED_RESOURCE));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().startsWith("model file " + p + ": not a llama2.c model (header [7, 0, 5, "),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("): hidden_dim = 0 is outside 1..131072"), e.getMessage());
    }

    @Test
    void randomBytesAreNotAModel() throws Exception {
        byte[] junk = new byte[100_000];
        new SplittableRandom(11).nextBytes(junk);
        Path p = tmp.resolve("junk.bin");
        Files.write(p, junk);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().startsWith("model file " + p + ": not a llama2.c model (header ["), e.getMessage());
    }

    @Test
    void inconsistentHeadersAreRefused() throws Exception {
        Path p = tmp.resolve("heads.bin");
        byte[] f = FILE.clone();
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 3); // n_kv_heads 3 does not divide 8
        Files.write(p, f);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().endsWith("): n_heads 8 is not a multiple of n_kv_heads 3"), e.getMessage());
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putInt(16, 4).putInt(12, 6); // dim 64 % 6 != 0
        Files.write(p, f);
        e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertTrue(e.getMessage().endsWith("): dim 64 is not a multiple of n_heads 6"), e.getMessage());
    }

    @Test
    void otherFormatsAreNamed() throws Exception {
        Path p = tmp.resolve("v2.bin");
        byte[] f = Arrays.copyOf(FILE, 256);
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0x616b3432).putInt(4, 2);
        Files.write(p, f);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertEquals("model file " + p + ": is a llama2.c version-1/2 export (magic \"ak42\"); only the version-0 "
                + "(legacy) format is supported", e.getMessage());
    }

    @Test
    void nonFiniteWeightsAreRefused() throws Exception {
        Path p = tmp.resolve("nan.bin");
        byte[] f = FILE.clone();
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putFloat(214300 + 4 * 10, Float.NaN);
        Files.write(p, f);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(p));
        assertEquals("model file " + p + ": tensor wk holds a non-finite value (NaN) at index 10", e.getMessage());
    }

    @Test
    void missingFileAndDirectory() {
        assertThrows(NoSuchFileException.class, () -> Llama2Model.load(tmp.resolve("absent.bin")));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2Model.load(tmp));
        assertEquals("model file " + tmp + ": is a directory", e.getMessage());
    }
}
