package org.hsr.model.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.hsr.model.ModelFormatException;
import org.hsr.model.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GGUF reader on a hand-made file of every value type, and its refusal of hand-made bad files. */
class GgufFileTest {

    /** Every metadata value type, a nested array, and two F32 tensors (2x32 and 32). */
    static byte[] goodFile() {
        GgufBytes b = GgufBytes.header(2, 14)
                .str("u8").u32(GgufFile.UINT8).u8(200)
                .str("i8").u32(GgufFile.INT8).u8(0xFF)
                .str("u16").u32(GgufFile.UINT16).u8(0xFF).u8(0xFF)
                .str("i16").u32(GgufFile.INT16).u8(0xFE).u8(0xFF)
                .kvU32("u32", 4_000_000_000L)
                .str("i32").u32(GgufFile.INT32).u32(-7)
                .str("f32").u32(GgufFile.FLOAT32).f32(1.5f)
                .str("bool").u32(GgufFile.BOOL).u8(1)
                .str("str").u32(GgufFile.STRING).str("héllo")
                .str("u64").u32(GgufFile.UINT64).u64(1L << 40)
                .str("i64").u32(GgufFile.INT64).u64(-3)
                .str("f64").u32(GgufFile.FLOAT64).u64(Double.doubleToLongBits(0.25))
                .str("strings").u32(GgufFile.ARRAY).u32(GgufFile.STRING).u64(2).str("a").str("▁b")
                .str("nested").u32(GgufFile.ARRAY).u32(GgufFile.ARRAY).u64(2)
                .u32(GgufFile.INT32).u64(2).u32(1).u32(2)
                .u32(GgufFile.FLOAT32).u64(1).f32(3f)
                .tensor("a", 0, 0, 32, 2)
                .tensor("b", 0, 256, 32)
                .align(32);
        for (int i = 0; i < 96; i++) b.f32(i);
        return b.bytes();
    }

    static GgufFile parse(byte[] bytes) throws ModelFormatException {
        return GgufFile.parse("test.gguf", MemorySegment.ofArray(bytes), null);
    }

    @Test
    void readsEveryValueTypeAndTheTensors() throws Exception {
        GgufFile f = parse(goodFile());
        assertEquals(3, f.version());
        assertEquals(200, f.get("u8"));
        assertEquals(-1, f.get("i8"));
        assertEquals(65535, f.get("u16"));
        assertEquals(-2, f.get("i16"));
        assertEquals(4_000_000_000L, f.get("u32"));
        assertEquals(-7, f.getInt("i32", 0));
        assertEquals(1.5, f.getDouble("f32", 0));
        assertTrue(f.getBoolean("bool", false));
        assertEquals("héllo", f.getString("str", null));
        assertEquals(1L << 40, f.get("u64"));
        assertEquals(-3L, f.get("i64"));
        assertEquals(0.25, f.get("f64"));
        assertArrayEquals(new String[] {"a", "▁b"}, f.getArray("strings", String[].class));
        GgufFile.GgufArray[] nested = f.getArray("nested", GgufFile.GgufArray[].class);
        assertArrayEquals(new int[] {1, 2}, (int[]) nested[0].values());
        assertArrayEquals(new float[] {3f}, (float[]) nested[1].values());
        assertEquals(7, f.getInt("missing", 7));
        var e = assertThrows(ModelFormatException.class, () -> f.getInt("u64", 0));
        assertTrue(e.getMessage().contains("u64"), e.getMessage());

        GgufFile.TensorInfo a = f.tensor("a");
        assertEquals(GgmlType.F32, a.type());
        assertArrayEquals(new long[] {32, 2}, a.dims());
        assertEquals(256, a.bytes());
        float[] b = f.data(f.tensor("b")).toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
        assertEquals(64f, b[0]);
        assertEquals(95f, b[31]);
    }

    @Test
    void mapsAFileAndUnmapsItOnClose(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("m.gguf");
        Files.write(p, goodFile());
        assertTrue(GgufFile.isGguf(p));
        MemorySegment data;
        try (GgufFile f = GgufFile.open(p)) {
            data = f.data(f.tensor("a"));
            assertEquals(1f, data.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 1));
        }
        assertFalse(data.scope().isAlive());
        Files.write(p, new byte[] {1, 2});
        assertFalse(GgufFile.isGguf(p));
    }

    /** The bad files: each name says what is wrong, each must be refused with a message containing the snippet. */
    static Map<String, Object[]> badFiles() {
        Map<String, Object[]> m = new LinkedHashMap<>();
        m.put("empty", new Object[] {new byte[0], "truncated"});
        m.put("truncated magic", new Object[] {new byte[] {'G', 'G'}, "truncated"});
        m.put("bad magic", new Object[] {new GgufBytes().u32(0x46554748).u32(3).u64(0).u64(0).bytes(), "not a GGUF file"});
        m.put("llama2.c file", new Object[] {new GgufBytes().u32(64).u32(172).u64(5).u64(5).bytes(), "not a GGUF file"});
        m.put("version 1", new Object[] {new GgufBytes().u32(GgufFile.MAGIC).u32(1).u32(0).u32(0).bytes(), "version 1"});
        m.put("version 4", new Object[] {new GgufBytes().u32(GgufFile.MAGIC).u32(4).u64(0).u64(0).bytes(), "unknown GGUF version 4"});
        m.put("big-endian", new Object[] {new GgufBytes().u32(GgufFile.MAGIC).u32(0x03000000).u64(0).u64(0).bytes(), "big-endian"});
        m.put("truncated header", new Object[] {new GgufBytes().u32(GgufFile.MAGIC).u32(3).u32(0).bytes(), "truncated"});
        m.put("tensor count 2^40", new Object[] {GgufBytes.header(1L << 40, 0).bytes(), "tensor count 1099511627776 is impossible"});
        m.put("metadata count -1", new Object[] {GgufBytes.header(0, -1).bytes(), "metadata count 18446744073709551615"});
        m.put("key length 2^60", new Object[] {GgufBytes.header(0, 1).u64(1L << 60).zeros(16).bytes(), "string length 1152921504606846976"});
        m.put("string value past the end", new Object[] {GgufBytes.header(0, 1).str("k").u32(GgufFile.STRING).u64(100).zeros(10).bytes(), "runs past the end"});
        m.put("array length past the end", new Object[] {GgufBytes.header(0, 1).str("k").u32(GgufFile.ARRAY).u32(GgufFile.INT32).u64(1L << 40).zeros(8).bytes(), "array length 1099511627776"});
        m.put("unknown value type", new Object[] {GgufBytes.header(0, 1).str("k").u32(13).zeros(8).bytes(), "unknown value type 13"});
        m.put("unknown array type", new Object[] {GgufBytes.header(0, 1).str("k").u32(GgufFile.ARRAY).u32(99).u64(1).zeros(8).bytes(), "unknown value type 99"});
        m.put("bool 2", new Object[] {GgufBytes.header(0, 1).str("k").u32(GgufFile.BOOL).u8(2).bytes(), "bool byte 2"});
        m.put("duplicate key", new Object[] {GgufBytes.header(0, 2).kvU32("k", 1).kvU32("k", 2).bytes(), "duplicate metadata key \"k\""});
        GgufBytes deep = GgufBytes.header(0, 1).str("k").u32(GgufFile.ARRAY);
        for (int i = 0; i < 6; i++) deep.u32(GgufFile.ARRAY).u64(1);
        m.put("arrays nested too deep", new Object[] {deep.zeros(16).bytes(), "nested deeper"});
        m.put("alignment 3", new Object[] {GgufBytes.header(0, 1).kvU32("general.alignment", 3).bytes(), "general.alignment = 3"});
        m.put("unknown tensor type", new Object[] {GgufBytes.header(1, 0).tensor("t", 13, 0, 256).align(32).zeros(176).bytes(), "Q5_K (type 13)"});
        m.put("duplicate tensor name", new Object[] {GgufBytes.header(2, 0).tensor("t", 0, 0, 8).tensor("t", 0, 32, 8).align(32).zeros(64).bytes(), "duplicate tensor name \"t\""});
        m.put("misaligned offset", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 4, 8).align(32).zeros(64).bytes(), "not a multiple of the alignment 32"});
        m.put("shape overflows", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 0, 1L << 32, 1L << 32).align(32).bytes(), "overflows a 64-bit element count"});
        m.put("bytes overflow", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 0, 1L << 31, 1L << 31).align(32).bytes(), "overflows a 64-bit byte count"});
        m.put("tensor past the end", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 0, 32, 2).align(32).zeros(200).bytes(), "extends past the end"});
        m.put("offset past the end", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 1L << 62, 8).align(32).zeros(32).bytes(), "extends past the end"});
        m.put("five dims", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 0, 1, 1, 1, 1, 1).align(32).zeros(32).bytes(), "n_dims 5"});
        m.put("zero dim", new Object[] {GgufBytes.header(1, 0).tensor("t", 0, 0, 8, 0).align(32).bytes(), "ne[1] = 0"});
        m.put("row not whole blocks", new Object[] {GgufBytes.header(1, 0).tensor("t", 8, 0, 48).align(32).zeros(64).bytes(), "not a multiple of the Q8_0 block size 32"});
        m.put("overlapping tensors", new Object[] {GgufBytes.header(2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 16).align(32).zeros(128).bytes(), "overlap"});
        m.put("long tensor name", new Object[] {GgufBytes.header(1, 0).tensor("x".repeat(65), 0, 0, 8).align(32).zeros(32).bytes(), "longer than 64"});
        m.put("truncated tensor info", new Object[] {Arrays.copyOf(GgufBytes.header(1, 0).tensor("t", 0, 0, 8).bytes(), 40), "tensor count 1 is impossible"});
        return m;
    }

    @Test
    void refusesEveryBadFileWithOneClearLine() {
        int refused = 0;
        for (var e : badFiles().entrySet()) {
            byte[] bytes = (byte[]) e.getValue()[0];
            String snippet = (String) e.getValue()[1];
            var ex = assertThrows(ModelFormatException.class, () -> parse(bytes), e.getKey());
            String msg = ex.getMessage();
            assertTrue(msg.startsWith("GGUF file test.gguf: "), e.getKey() + ": " + msg);
            assertTrue(msg.contains(snippet), e.getKey() + ": \"" + msg + "\" lacks \"" + snippet + "\"");
            assertFalse(msg.contains("\n"), e.getKey() + ": " + msg);
            refused++;
        }
        assertTrue(refused >= 30, "bad files: " + refused);
    }

    @Test
    void everyTruncationAndRandomCorruptionIsRefusedCleanly() {
        byte[] good = goodFile();
        for (int len = 0; len < good.length; len++) {
            byte[] cut = Arrays.copyOf(good, len);
            assertThrows(ModelFormatException.class, () -> parse(cut), "truncated to " + len);
        }
        SplittableRandom r = new SplittableRandom(1);
        int refused = 0;
        for (int trial = 0; trial < 3000; trial++) {
            byte[] bad = good.clone();
            for (int k = 0; k < 1 + r.nextInt(4); k++) bad[r.nextInt(400)] = (byte) r.nextInt(256);
            try {
                parse(bad);
            } catch (ModelFormatException e) {
                assertFalse(e.getMessage().contains("\n"));
                refused++;
            }
        }
        assertTrue(refused > 100, "refused " + refused);
    }

    @Test
    void writerOutputReadsBack(@TempDir Path dir) throws Exception {
        Path p = dir.resolve("w.gguf");
        float[] data = new float[64 * 3];
        for (int i = 0; i < data.length; i++) data[i] = (float) Math.sin(i);
        new GgufWriter().putString("general.architecture", "llama").putUint32("n", 5).putFloat32("x", 0.5f)
                .putBool("b", true).putStrings("s", new String[] {"x", "y"}).putFloats("fs", new float[] {1, 2})
                .putInts("is", new int[] {3})
                .addTensor("f32", GgmlType.F32, new long[] {64, 3}, data, 0)
                .addTensor("q8", GgmlType.Q8_0, new long[] {64, 3}, data, 0)
                .addTensor("bf16", GgmlType.BF16, new long[] {64}, data, 64)
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals("llama", f.getString("general.architecture", null));
            assertEquals(5, f.getInt("n", 0));
            assertEquals(0.5, f.getDouble("x", 0));
            assertTrue(f.getBoolean("b", false));
            assertArrayEquals(new String[] {"x", "y"}, f.getArray("s", String[].class));
            assertArrayEquals(new float[] {1, 2}, f.getArray("fs", float[].class));
            assertArrayEquals(new int[] {3}, f.getArray("is", int[].class));
            assertArrayEquals(data, f.data(f.tensor("f32")).toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED));
            assertEquals(3 * 2 * 34, f.tensor("q8").bytes());
            assertEquals(0, f.tensor("q8").offset() % 32);
            assertEquals(GgmlType.BF16, f.tensor("bf16").type());
        }
    }
}
