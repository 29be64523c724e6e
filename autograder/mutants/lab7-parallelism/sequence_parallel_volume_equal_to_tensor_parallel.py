"""Sequence parallelism counted like tensor parallelism: the second all-gather of X in the backward
pass (the price of saving only the sequence shard) is missing."""
EDITS = [
    ("volume", "backward = 2 * (3 * u if sequence_parallel else 2 * u)", "backward = 2 * (2 * u)"),
]
