"""Off by one in the lifetimes: the last layer of a recomputed segment keeps its output x_r
after R_r, although no backward op needs it, so every segment's recompute peaks too high."""
EDITS = [
    ("peak", 'run([(f"e{i}", extra[i - 1]), (f"x{i}", out[i])], [f"x{i}"] if i == r else [])',
     'run([(f"e{i}", extra[i - 1]), (f"x{i}", out[i])], [])'),
]
