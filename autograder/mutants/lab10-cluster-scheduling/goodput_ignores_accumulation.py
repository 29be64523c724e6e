"""The global batch leaves out the accumulation steps."""
EDITS = [
    ('pollux', '    batch = gpus * local_bsz * (accum_steps + 1)\n    return', '    batch = gpus * local_bsz\n    return'),
]
