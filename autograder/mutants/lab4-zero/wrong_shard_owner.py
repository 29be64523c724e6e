"""Rank r runs Adam on its right neighbour's slice of the parameters (off by one owner), with
the gradient slice that belongs to its own."""
EDITS = [
    ("zero2", 'lo, hi = shard_range(st["params"].numel(), n, r)',
     'lo, hi = shard_range(st["params"].numel(), n, (r + 1) % n)'),
]
