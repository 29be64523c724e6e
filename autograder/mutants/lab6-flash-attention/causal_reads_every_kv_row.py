"""Under causal, every Q tile is counted as reading all of K and V (the skipped future tiles
are counted too)."""
EDITS = [("bytes", "kv_rows = i1 if causal else seq", "kv_rows = seq")]
