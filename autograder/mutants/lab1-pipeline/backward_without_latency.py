"""The latency is charged on the forward's cross-stage dependency but not on the backward's (the
gradient from stage r + 1 arrives at once): one path of the dependency code forgets it."""
EDITS = [("simulate", 'deps.append(("BW", r + 1, i, latency))', 'deps.append(("BW", r + 1, i, 0.0))')]
