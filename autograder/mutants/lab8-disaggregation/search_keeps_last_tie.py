"""The placement search keeps the last of equally good placements instead of the first in the
stated order (>= instead of >)."""
EDITS = [
    ("search", 'if best is None or g > best["goodput_per_device"]:',
     'if best is None or g >= best["goodput_per_device"]:'),
]
