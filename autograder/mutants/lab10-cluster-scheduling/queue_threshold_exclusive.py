"""Reaching a threshold does not demote: a job is moved down only once its service exceeds it."""
EDITS = [
    ('las', '        if attained >= t:', '        if attained > t:'),
]
