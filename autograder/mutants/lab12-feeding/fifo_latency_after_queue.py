"""FIFO pays the start-up latency after waiting for the link, not while the previous message is
still on it (max(ready, free) + latency instead of max(ready + latency, free))."""
EDITS = [("iteration", "            start = max(ready[i] + network[\"latency\"], free)", "            start = max(ready[i], free) + network[\"latency\"]")]
