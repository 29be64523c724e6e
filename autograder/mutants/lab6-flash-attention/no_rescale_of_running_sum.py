"""The running sum is not rescaled when the running max grows: l = l + rowsum(p) instead of
alpha * l + rowsum(p) (the sum mixes exponentials taken against different maxima)."""
EDITS = [("forward", "l = alpha * l + p.sum(dim=1)", "l = l + p.sum(dim=1)")]
