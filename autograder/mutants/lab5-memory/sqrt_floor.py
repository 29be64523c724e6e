"""Segments of floor(sqrt(n)) layers instead of round(sqrt(n)): too many checkpoints for
n = 8, 15, 24, ..."""
EDITS = [
    ("sqrt", "k = max(1, round(math.sqrt(n)))", "k = max(1, math.isqrt(n))"),
]
