"""Predicts the paper's Ψ/N bytes per slice, forgetting that the flat buffer is padded to a
multiple of N (wrong whenever N does not divide Ψ)."""
EDITS = [
    ("predict", "    s = math.ceil(psi / n)\n    full = n * s", "    s = psi // n\n    full = psi"),
]
