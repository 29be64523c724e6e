"""Predicts the paper's Ψ/N bytes per slice, forgetting that the flat buffer is padded to a
multiple of N (wrong whenever N does not divide Ψ)."""
EDITS = [
    ("predict", "    s = math.ceil(psi / ranks)\n    full = ranks * s", "    s = psi // ranks\n    full = psi"),
]
