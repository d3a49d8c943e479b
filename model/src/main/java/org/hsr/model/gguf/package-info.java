/**
 * GGUF files (llama.cpp's format, versions 2 and 3): the reader ({@link org.hsr.model.gguf.GgufFile}, every length
 * and offset checked, tensors memory-mapped), the writer ({@link org.hsr.model.gguf.GgufWriter}), Llama-family models
 * from their metadata ({@link org.hsr.model.gguf.GgufModel}), the tokenizers they carry
 * ({@link org.hsr.model.gguf.GgufTokenizers}: SentencePiece {@code llama}, byte-level BPE
 * {@link org.hsr.model.gguf.Gpt2Tokenizer}), and conversion of llama2.c models or random weights of a named shape
 * ({@link org.hsr.model.gguf.GgufConvert}).
 */
package org.hsr.model.gguf;
