"""The capacity constraint counts jobs per type, not the GPUs their gangs hold."""
EDITS = [
    ('gavel', '            A[2 * n + j, m * k + j] = scale[m]', '            A[2 * n + j, m * k + j] = 1.0'),
]
