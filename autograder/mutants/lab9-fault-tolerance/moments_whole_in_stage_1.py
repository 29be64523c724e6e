"""The optimizer states are kept whole under ZeRO-1 (only partitioned from stage 2)."""
EDITS = [("reshard", "elems += size if stage >= (3 if state == \"param\" else 1) else size * d",
          "elems += size if stage >= (3 if state == \"param\" else 2) else size * d")]
