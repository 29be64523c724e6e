"""The reduce-scattered gradient is the sum over ranks, not the mean: N times too large. Adam
hides most of it (it is nearly scale-invariant), but the kept gradient is wrong."""
EDITS = [
    ("zero2", 'st["grad"] = reduced[r] / n', 'st["grad"] = reduced[r]'),
]
