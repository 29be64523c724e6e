"""Predicts the traffic with the paper's large-N figure (2Ψ or 3Ψ elements) instead of what a
ring over N ranks really sends ((N - 1) slices per collective)."""
EDITS = [
    ("predict", "per_collective = 4 * (ranks - 1) * math.ceil(psi / ranks)", "per_collective = 4 * psi"),
]
