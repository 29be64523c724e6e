"""The log-sum-exp is taken from the last K/V tile's exponentials only, not the running sum."""
EDITS = [("forward", "L[i0:i1] = m + torch.log(l)", "L[i0:i1] = m + torch.log(p.sum(dim=1))")]
