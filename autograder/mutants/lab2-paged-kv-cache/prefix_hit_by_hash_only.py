"""A prefix-cache hit is trusted on the hash alone: a collision hands out a block holding other tokens."""
EDITS = [
    ("prefix_cache", "if block is None or self.entry[block][1] != tuple(token_ids):", "if block is None:"),
]
