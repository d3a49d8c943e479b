/**
 * A Llama-family model runner (llama2.c {@code .bin} files, and GGUF files through {@link org.hsr.model.gguf}) whose
 * attention step is pluggable: one forward pass ({@link org.hsr.model.Transformer}) over a
 * {@link org.hsr.model.LlamaModel} of stored matrices ({@link org.hsr.model.tensor}). Here: the llama2.c loader
 * ({@link org.hsr.model.Llama2Model}), the tokenizer ({@link org.hsr.model.Tokenizer}), sampling
 * ({@link org.hsr.model.Sampler}), text generation ({@link org.hsr.model.Generator}) and teacher-forced loss
 * ({@link org.hsr.model.Perplexity}).
 *
 * <p>The attention of every layer goes through an {@link org.hsr.model.AttentionBackend}: the dense references
 * ({@link org.hsr.model.DenseSoftmaxAttention}, {@link org.hsr.model.DenseReluAttention}) or a sparse one.
 *
 * <p>The project ships Andrej Karpathy's {@code stories260K} model and its 512-token vocabulary as class-path resources
 * (MIT licence, see {@code LICENSE-stories260K.txt} next to them), loaded by {@link org.hsr.model.Llama2Model#loadEmbedded()}
 * and {@link org.hsr.model.Tokenizer#loadEmbedded()}.
 */
package org.hsr.model;
