"""max_accum accumulation steps are never tried (range stops one short)."""
EDITS = [
    ('pollux', '    for s in range(max_accum + 1):', '    for s in range(max(max_accum, 1)):'),
]
