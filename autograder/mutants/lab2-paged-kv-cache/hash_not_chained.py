"""The block hash ignores the parent hash: equal blocks after different prefixes collide."""
EDITS = [
    ("prefix_cache", '    h.update(struct.pack("<I", len(parent)))\n    h.update(parent)\n', ""),
]
