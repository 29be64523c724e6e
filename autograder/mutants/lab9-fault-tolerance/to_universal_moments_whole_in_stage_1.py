"""to_universal reads the optimizer states of a ZeRO-1 checkpoint as if they were whole (rank 0's slice only)."""
EDITS = [("reshard", "sliced = stage >= (3 if state == \"param\" else 1)\n        flat =",
          "sliced = stage >= (3 if state == \"param\" else 2)\n        flat =")]
