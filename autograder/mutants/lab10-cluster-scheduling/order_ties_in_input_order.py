"""Jobs of one queue that arrived together keep the input order instead of the lower id first."""
EDITS = [
    ('las', '    return [i for _, _, i in sorted(keyed)]', '    return [i for _, _, i in sorted(keyed, key=lambda x: x[:2])]'),
]
