"""The per-GPU batch is the outer loop, so a tie goes to more accumulation steps."""
EDITS = [
    ('pollux', '    for s in range(max_accum + 1):\n        for m in range(1, p["max_local"] + 1):', '    for m in range(1, p["max_local"] + 1):\n        for s in range(max_accum + 1):'),
]
