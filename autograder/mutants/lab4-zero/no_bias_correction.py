"""Adam without bias correction: the first steps are far too small (m and v start at zero)."""
EDITS = [
    ("adam", "denom = v.sqrt() / math.sqrt(1 - b2 ** step) + eps", "denom = v.sqrt() + eps"),
    ("adam", "p.sub_(lr / (1 - b1 ** step) * m / denom)", "p.sub_(lr * m / denom)"),
]
