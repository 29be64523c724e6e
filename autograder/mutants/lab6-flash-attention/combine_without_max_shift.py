"""The combine weights are exp(lse) / sum exp(lse) computed directly: right on paper, overflows
(inf / inf) for large log-sum-exps."""
EDITS = [("combine", "weights = torch.exp(lses - L)", "weights = torch.exp(lses) / torch.exp(lses).sum(dim=0)")]
