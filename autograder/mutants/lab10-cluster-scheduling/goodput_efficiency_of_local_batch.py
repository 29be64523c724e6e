"""Statistical efficiency is computed at the per-GPU batch instead of the global batch."""
EDITS = [
    ('pollux', 'efficiency(p["phi"], p["m0"], batch)', 'efficiency(p["phi"], p["m0"], local_bsz)'),
]
