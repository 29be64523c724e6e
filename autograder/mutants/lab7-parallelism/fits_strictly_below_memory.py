"""A plan fits only when its memory is strictly below the device's: one that uses exactly the
capacity is wrongly rejected (off by one at the boundary)."""
EDITS = [
    ("cost", '"fits": bool(memory <= cluster["memory"])', '"fits": bool(memory < cluster["memory"])'),
]
