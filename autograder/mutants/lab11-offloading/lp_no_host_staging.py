"""The host stages nothing: the disk weights and KV pass through it for free."""
EDITS = [("lp", "A[1][2] += 2 * W\n    A[1][8] += batch_size * T * C\n", "")]
