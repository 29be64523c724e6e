"""Segments of floor(sqrt(n)) layers instead of round(sqrt(n)): too many checkpoints for
n = 8, 15, 24, ..."""
EDITS = [
    ("sqrt", "k = round(math.sqrt(n))", "k = math.isqrt(n)"),
]
