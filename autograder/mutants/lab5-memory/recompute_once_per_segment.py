"""Counts the recomputation once per segment (only the C layer's forward), not once per
recomputed layer."""
EDITS = [
    ("sqrt", 'return float(sum(f for f, c in zip(chain["fwd"], plan) if c in "CR"))',
     'return float(sum(f for f, c in zip(chain["fwd"], plan) if c == "C"))'),
]
