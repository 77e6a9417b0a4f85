"""Step 3, survivor scoring: the feature registry (features), its numba kernel, the chunk files (chunks)."""
