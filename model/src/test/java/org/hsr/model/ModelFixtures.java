package org.hsr.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The shipped model, loaded once per test JVM, and the README's check values. */
final class ModelFixtures {

    /**
     * The start of the greedy sample from BOS documented for stories260K (llama2.c doc/stories260K.md) as quoted in the
     * README, except that the model writes a newline, not a space, before "Lily's mom said," (token 13 = byte 0x0A).
     */
    static final String GREEDY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the"
            + " park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said,";

    /**
     * The text of the README's NLL check value (0.324 nats/token): BOS and the 44 tokens of the sample's first three
     * sentences, which is the only prefix of the sample whose mean NLL rounds to 0.324.
     */
    static final String NLL_TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the"
            + " park. One day, she saw a big, red ball.";

    static final Llama2Model MODEL;
    static final Tokenizer TOKENIZER;

    static {
        try {
            MODEL = Llama2Model.loadEmbedded();
            TOKENIZER = Tokenizer.loadEmbedded();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private ModelFixtures() {}

    /** The raw bytes of an embedded resource (next to {@link Llama2Model}). */
    static byte[] resource(String name) {
        try (InputStream in = Llama2Model.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
