"""The fused backward BW is timed with t_b alone: the weight-gradient part t_w is ignored (the
parameter is unused; right only when t_w = 0)."""
EDITS = [("simulate", "    cost = t_b + t_w\n", "    cost = t_b\n")]
