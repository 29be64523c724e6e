"""Only the first two thresholds are checked for order."""
EDITS = [
    ('las', '    for a, b in zip(thresholds, thresholds[1:]):', '    for a, b in zip(thresholds[:1], thresholds[1:2]):'),
]
