package org.hsr.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;
import org.hsr.io.Npy;

/** Writes the machine-readable results (SPEC §6: one JSON object per file, written atomically). */
final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Json() {}

    static void write(Path path, Object value) throws IOException {
        Npy.writeAtomically(path, MAPPER.writeValueAsBytes(value));
    }

    static String toString(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
