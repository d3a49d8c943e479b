/**
 * Peer baselines for sparse softmax attention: the selection methods a user could pick instead of the half-space
 * index, implemented on the same fp32 SIMD kernels so that the benchmark compares selection policies and not
 * arithmetic.
 * <ul>
 *   <li>{@link org.hsr.attention.baseline.QuestAttention}: Quest (Tang et al. 2024), query-aware page selection from
 *       per-page channel-wise key bounds.</li>
 *   <li>{@link org.hsr.attention.baseline.SinkWindowAttention}: StreamingLLM (Xiao et al. 2024), attention sinks plus
 *       a recent window, independent of the query.</li>
 * </ul>
 * Both renormalise the softmax over the keys they keep (SPEC §4, "Sparse"), score those keys exactly, and count their
 * work in {@link org.hsr.attention.AttentionStats}.
 */
package org.hsr.attention.baseline;
