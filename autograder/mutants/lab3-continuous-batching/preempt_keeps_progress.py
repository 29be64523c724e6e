"""Preemption frees the blocks but keeps num_computed: on resume the engine believes the K/V are
still cached and feeds only the last token (wrong outputs, fewer blocks than needed)."""
EDITS = [("preempt", "    seq.num_computed = 0\n", "")]
