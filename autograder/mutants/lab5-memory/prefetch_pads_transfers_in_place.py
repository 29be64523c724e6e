"""Pads the caller's transfers with None (transfers += [None] * lookahead) so that issuing the
prefetch of an op past the end needs no bounds check: the schedule is right, but the caller's
list comes back longer (an augmented assignment on a list argument changes it in place)."""
EDITS = [("prefetch", "    arrive = [None] * len(durations)\n",
          "    transfers += [None] * lookahead  # no bounds check needed below\n    arrive = [None] * len(transfers)\n"),
         ("prefetch", "        if j < len(durations) and transfers[j] is not None:", "        if transfers[j] is not None:")]
