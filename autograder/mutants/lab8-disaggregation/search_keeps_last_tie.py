"""The placement search keeps the last of equally good placements instead of the first in the
stated order (>= instead of >)."""
EDITS = [
    ("search", 'if c["goodput_per_device"] > best["goodput_per_device"]:',
     'if c["goodput_per_device"] >= best["goodput_per_device"]:'),
]
