"""Nothing in range returns None instead of raising ValueError."""
EDITS = [
    ('pollux', '    if best is None:\n        raise ValueError(f"no batch size in [{p[\'m0\']}, {p[\'max_batch\']}] on {gpus} GPUs")\n', ''),
]
