package org.hsr.model;

import java.io.IOException;

/**
 * A model or tokenizer file that cannot be used: truncated, of a foreign format, or inconsistent with its header or
 * with the model it is paired with. The message is one line and names the file.
 */
public final class ModelFormatException extends IOException {

    /** Creates the exception; {@code message} should name the file and say what is wrong in one line. */
    public ModelFormatException(String message) {
        super(message);
    }
}
