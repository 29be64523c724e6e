"""Partitions with torch.chunk and no padding: when N does not divide the buffer the slices
have different sizes (or there are fewer than N), so collectives and owners go wrong."""
EDITS = [
    ("partition",
     "    padded = torch.zeros(n * s, dtype=flat.dtype)\n    padded[: flat.numel()] = flat\n"
     "    return [padded[slice(*shard_range(flat.numel(), n, r))].clone() for r in range(n)]",
     "    return [c.clone() for c in flat.chunk(n)]"),
]
