"""Allocates a new block as soon as the last one is exactly full (off by one at the boundary)."""
EDITS = [
    ("block_manager", "while len(table) * self.block_size < length + n:", "while len(table) * self.block_size <= length + n:"),
    ("block_manager", "new_blocks = -(-(length + n) // self.block_size) - -(-length // self.block_size)",
     "new_blocks = (length + n) // self.block_size + 1 - (length // self.block_size + 1 if length else 0)"),
]
