#!/usr/bin/python3
"""Clustered keys for the issue-15 search profile: 300 Gaussian clusters (sd 0.35 around N(0,1) centres), keys in
random order, queries near the centres (sd 0.1), one threshold for all queries at the 99.5% quantile of the scores.
Writes /tmp/pfclust/{k,q}.npy and prints the threshold."""
import os
import numpy as np
os.makedirs('/tmp/pfclust', exist_ok=True)
rng = np.random.default_rng(7)
n, d, C, m = 131072, 128, 300, 64
centres = rng.standard_normal((C, d)).astype(np.float32) * 1.0
lab = rng.integers(0, C, n)
k = (centres[lab] + 0.35 * rng.standard_normal((n, d))).astype(np.float32)   # keys in random order
ql = rng.integers(0, C, m)
q = (centres[ql] + 0.1 * rng.standard_normal((m, d))).astype(np.float32)      # queries near the centres
np.save('/tmp/pfclust/k.npy', k); np.save('/tmp/pfclust/q.npy', q)
s = q @ k.T
t = np.quantile(s, 0.995)  # one threshold for all queries: ~0.5% of keys reported
print("threshold", t, "frac", (s >= t).mean())
