"""Allocates a new block as soon as the last one is exactly full (off by one at the boundary)."""
EDITS = [
    ("block_manager", "while len(table) * self.B < length + n:", "while len(table) * self.B <= length + n:"),
    ("block_manager", "new_blocks = -(-(length + n) // self.B) - -(-length // self.B)",
     "new_blocks = (length + n) // self.B + 1 - (length // self.B + 1 if length else 0)"),
]
