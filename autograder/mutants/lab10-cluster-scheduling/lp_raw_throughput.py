"""The LP maximises the smallest raw effective throughput, not normalised by the equal share."""
EDITS = [
    ('gavel', '            A[m, m * k + j] = -T[m][j] / norm[m]', '            A[m, m * k + j] = -T[m][j]'),
]
