package org.hsr.io;

import java.io.IOException;

/** A {@code .npy} file that is truncated, corrupt, or of a layout this project does not accept (SPEC §6). */
public final class NpyFormatException extends IOException {
    public NpyFormatException(String message) {
        super(message);
    }
}
