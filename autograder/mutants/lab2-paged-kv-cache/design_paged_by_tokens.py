"""Paging counted as if requests could share slots token by token (pool_slots // length): the
last block's unused slots are forgotten, so with blocks of 256 slots paging seems to fit 48
300-token requests instead of 28."""
EDITS = [("design", "paged = (pool_slots // block_size) // -(-length // block_size)", "paged = pool_slots // length")]
