"""The scores' scale is folded into q once, up front and in place (`q *= scale`, "to save a
multiply per tile"): a student's in-place shortcut. The caller's Q changes, so the next call with
the same Q (the visible test's causal case) attends with Q scaled twice."""
EDITS = [("forward", "    scale = 1.0 / math.sqrt(d)\n", "    q *= 1.0 / math.sqrt(d)\n    scale = 1.0\n")]
