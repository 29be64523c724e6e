"""Standard attention's forward is counted with three N x N passes instead of four (the read of
P before O = P V is forgotten)."""
EDITS = [("design", "standard = (4 * seq * head_dim + 4 * seq * seq) * e", "standard = (4 * seq * head_dim + 3 * seq * seq) * e")]
