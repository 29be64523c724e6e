"""The log-sum-exp L is not counted (it is written to HBM: the backward pass reads it)."""
EDITS = [("bytes", "total += 4 * seq  # L, fp32, written once", "total += 0  # L, fp32, written once")]
