"""Under causal, every Q tile is counted as reading the K/V rows up to i0 + block_q, the last
(short) tile too: rows past N are counted whenever block_q does not divide N (the tile's end not
clipped on one path)."""
EDITS = [("bytes", "kv_rows = i1 if causal else seq", "kv_rows = i0 + block_q if causal else seq")]
