package org.hsr.cli;

/** A caller error detected by the CLI (bad flag value, shape mismatch): exit code 2. */
public final class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}
