"""Full recomputation re-runs the layer's forward, but its collectives are not counted again."""
EDITS = [
    ("volume", "backward += 3 * u if sequence_parallel else 2 * u", "backward += 0"),
]
