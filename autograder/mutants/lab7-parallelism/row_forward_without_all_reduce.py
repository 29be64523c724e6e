"""g's forward forgotten: each rank returns its partial product X_r B_r, not the sum."""
EDITS = [
    ("linears", "return all_reduce(world, [x @ b for x, b in zip(x_shards, b_shards)])",
     "return [x @ b for x, b in zip(x_shards, b_shards)]"),
]
