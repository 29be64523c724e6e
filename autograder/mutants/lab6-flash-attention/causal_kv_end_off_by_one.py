"""Causal: the Q tile's K/V walk stops one key early (at i1 - 1), so the last row of every Q
tile misses its own (diagonal) key, and a one-row tile sees nothing."""
EDITS = [("forward", "kv_end = min(Nk, i1) if causal else Nk", "kv_end = min(Nk, i1 - 1) if causal else Nk")]
