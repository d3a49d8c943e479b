/**
 * A llama2.c-format model runner whose attention step is pluggable: the loader ({@link org.hsr.model.Llama2Model}),
 * the tokenizer ({@link org.hsr.model.Tokenizer}), the forward pass ({@link org.hsr.model.Transformer}), sampling
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
