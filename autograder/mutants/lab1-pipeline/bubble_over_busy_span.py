"""Bubble counted over the wrong interval: the rank's first start to last end, not [0, makespan].

The warm-up wait and the drain are then not counted as idle."""
EDITS = [("metrics", 'idle = result["makespan"] - busy', "idle = (evs[-1][3] - evs[0][2]) - busy")]
