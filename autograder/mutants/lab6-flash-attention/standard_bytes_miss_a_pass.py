"""Standard attention's forward is counted with three N x N passes instead of four (the read of
P before O = P V is forgotten)."""
EDITS = [("design", "standard = (4 * N * d + 4 * N * N) * e", "standard = (4 * N * d + 3 * N * N) * e")]
