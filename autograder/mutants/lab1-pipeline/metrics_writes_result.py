"""bubble_fraction keeps its per-rank idle times in the result dict it was given (an argument
changed in place): the value returned is right, but the caller's result now has a key it did not."""
EDITS = [("metrics", "        fractions.append(idle / busy)\n",
          "        fractions.append(idle / busy)\n        result.setdefault(\"idle\", []).append(idle)\n")]
