"""The simulator charges the point-to-point latency on the BW -> F dependency inside one rank,
where nothing is sent."""
EDITS = [("simulate", 'deps = [("F", r, i, 0.0)]', 'deps = [("F", r, i, latency)]')]
