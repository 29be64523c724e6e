"""The combine shifts the log-sum-exps by the first chunk's instead of the largest: exact on paper
and right whenever chunk 0 holds the largest lse, but exp overflows when a later chunk's lse is far
above it, and an empty first chunk (lse = -inf) makes every weight NaN. The chunks' order matters
where it should not."""
EDITS = [("combine", "    L = torch.logsumexp(lses, dim=0)\n    weights = torch.exp(lses - L)\n",
          "    w = torch.exp(lses - lses[0])\n    L = lses[0] + torch.log(w.sum(dim=0))\n    weights = w / w.sum(dim=0)\n")]
