"""The per-job limit (a job is in one place at a time) is left out of the LP."""
EDITS = [
    ('gavel', '            A[n + m, m * k + j] = 1.0', '            A[n + m, m * k + j] = 0.0'),
]
