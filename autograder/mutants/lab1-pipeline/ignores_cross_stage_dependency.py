"""The simulator ignores the cross-stage dependency of a forward on the previous stage.

Every rank starts at time 0 and the makespan comes out too short."""
EDITS = [("simulate", 'deps = [("F", r - 1, i, latency)] if r > 0 else []', "deps = []")]
