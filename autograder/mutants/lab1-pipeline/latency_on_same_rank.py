"""The simulator charges the p2p latency on the same-rank F -> BW dependency, where nothing is sent."""
EDITS = [("simulate", 'deps = [("F", r, i, 0.0)]', 'deps = [("F", r, i, latency)]')]
