"""The running max is tracked but not subtracted: p = exp(s) (overflows for large scores, and is
inconsistent with the alpha rescaling)."""
EDITS = [("forward", "p = torch.exp(s - m_new[:, None])", "p = torch.exp(s)")]
