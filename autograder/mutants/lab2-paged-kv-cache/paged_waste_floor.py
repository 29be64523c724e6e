"""Counts whole blocks with floor instead of ceil: the partly filled last block is not counted."""
EDITS = [
    ("waste", "sum(-(-n // block_size) * block_size for n in lengths)", "sum(max(1, n // block_size) * block_size for n in lengths)"),
]
