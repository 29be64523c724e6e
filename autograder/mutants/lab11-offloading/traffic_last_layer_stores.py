"""The last layer stores its output activations too (the head reads them on the device)."""
EDITS = [("traffic", "act_out = seqs * new if layer < model[\"layers\"] - 1 else 0", "act_out = seqs * new")]
