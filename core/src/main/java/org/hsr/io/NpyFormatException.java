package org.hsr.io;

import java.io.IOException;

/**
 * A {@code .npy} file that is truncated or corrupt, or valid but of a layout this project does not accept (SPEC §6):
 * {@link #unsupported()} tells the two apart (a command line reports the first as a runtime failure, the second as
 * a usage error, like a shape that does not fit the command).
 */
public final class NpyFormatException extends IOException {
    private final boolean unsupported;

    /** A truncated or corrupt file. */
    public NpyFormatException(String message) {
        this(message, false);
    }

    public NpyFormatException(String message, boolean unsupported) {
        super(message);
        this.unsupported = unsupported;
    }

    /** True for a well-formed file of a dtype or order that is refused (big-endian, Fortran order, int16, ...). */
    public boolean unsupported() {
        return unsupported;
    }
}
