"""The simulator lets a forward start without the previous stage's activation (ignores the
cross-stage dependency), so every rank starts at time 0 and the makespan is too short."""
EDITS = [("simulate", 'deps = [("F", r - 1, i, latency)] if r > 0 else []', "deps = []")]
