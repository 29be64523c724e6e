"""The priority scheduler forgets the per-message start-up latency of every chunk (it only matters
when latency > 0: the partition trade-off disappears)."""
EDITS = [("iteration", "        free = handover + network[\"latency\"] + transfer_time(piece[2], network)",
          "        free = handover + transfer_time(piece[2], network)")]
