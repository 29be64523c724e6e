"""A request's blocks rounded down (length // block_size): the partly filled last block is not
counted, so a 300-token request takes 18 blocks of 16 instead of 19 (and 1-token requests none)."""
EDITS = [("design", "paged = (pool_slots // block_size) // -(-length // block_size)",
          "paged = (pool_slots // block_size) // max(1, length // block_size)")]
