"""A tensor that is not a whole number of partitions loses its last, smaller chunk (only full
chunks are sent)."""
EDITS = [("priority", "    if rest:\n        chunks.append(rest)\n", "")]
