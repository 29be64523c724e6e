"""Goodput is the highest passing rate anywhere in the sweep, even above a rate that failed."""
EDITS = [("goodput", "        if attained < target:\n            break\n        best = rate",
          "        if attained >= target:\n            best = rate")]
