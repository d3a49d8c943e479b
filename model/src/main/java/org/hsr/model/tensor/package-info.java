/**
 * Stored weight matrices of the ggml element types ({@link org.hsr.model.tensor.GgmlType}: F32, F16, BF16, Q8_0,
 * Q4_0, Q4_K, Q6_K) and their matrix-vector products: the facade {@link org.hsr.model.tensor.TensorKernels}, the
 * interface {@link org.hsr.model.tensor.TensorKernelSupport}, the scalar implementation
 * {@link org.hsr.model.tensor.ScalarTensorKernelSupport} and the Vector API one in the {@code panama} sub-package,
 * loaded by name; {@link org.hsr.model.tensor.Matmul} splits rows over threads, and
 * {@link org.hsr.model.tensor.Quantizer} encodes.
 */
package org.hsr.model.tensor;
