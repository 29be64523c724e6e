"""Parameters are partitioned from ZeRO-2 on (stage 2 is P_os+g, the parameters stay whole)."""
EDITS = [("reshard", "sliced = stage >= (3 if state == \"param\" else 1)\n        for r in range(d):",
          "sliced = stage >= (2 if state == \"param\" else 1)\n        for r in range(d):")]
