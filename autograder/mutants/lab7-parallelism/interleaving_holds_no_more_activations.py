"""The interleaved schedule is charged 1F1B's p microbatches in flight, not p + (p - 1) / v."""
EDITS = [
    ("cost", "in_flight = p if v == 1 else p + (p - 1) / v", "in_flight = p"),
]
