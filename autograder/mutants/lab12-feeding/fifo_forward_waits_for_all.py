"""Under FIFO the next forward waits for the whole model's all-reduce, not only for its own layer's
gradient (no overlap of the forward with the remaining communication)."""
EDITS = [("iteration", "        t = max(t, done[i]) + layer[\"forward\"]", "        t = max(t, max(done)) + layer[\"forward\"]")]
