"""The simulator times a backward with the forward's cost (t_f instead of t_b)."""
EDITS = [("simulate", "    cost = t_b\n", "    cost = t_f\n")]
