"""The device keeps one offloaded layer, not two (no room for the prefetched next layer)."""
EDITS = [("lp", "A[0][j] += 2 * W", "A[0][j] += W")]
