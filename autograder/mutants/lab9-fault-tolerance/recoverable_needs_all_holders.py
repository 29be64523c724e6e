"""A checkpoint counts as lost when any of its holders failed (all instead of any)."""
EDITS = [("placement", "return all(any(h not in failed for h in hs) for hs in holders)",
          "return all(all(h not in failed for h in hs) for hs in holders)")]
