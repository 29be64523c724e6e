"""Equal thresholds are accepted: only a decreasing pair is rejected."""
EDITS = [
    ('las', '        if a >= b:', '        if a > b:'),
]
