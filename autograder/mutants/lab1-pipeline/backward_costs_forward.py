"""The simulator times a backward with the forward's cost (t_f instead of t_b + t_w)."""
EDITS = [("simulate", "    cost = t_b + t_w\n", "    cost = t_f\n")]
