"""rank_bytes counts the unpadded elements (total / d rounded down)."""
EDITS = [("reshard", "    size = -(-sum(n for _, n in specs) // d)\n", "    size = sum(n for _, n in specs) // d\n")]
