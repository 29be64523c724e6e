"""The chunks' outputs are averaged with equal weights, ignoring how much of the softmax each
chunk holds."""
EDITS = [("combine", "weights = torch.exp(lses - L)", "weights = torch.full_like(lses, 1.0 / lses.shape[0])")]
