"""No capacity check up front: an append that does not fit allocates some blocks, then fails half-way."""
EDITS = [
    ("block_manager", "        if self.blocks_needed(seq_id, n) > self.allocator.num_free:\n", "        if False:\n"),
]
