"""Bubble counted over the wrong interval: from the rank's first start to its last end instead of
the whole step [0, makespan], so the warm-up wait and the drain are not counted."""
EDITS = [("metrics", 'idle = result["makespan"] - busy', "idle = (evs[-1][3] - evs[0][2]) - busy")]
