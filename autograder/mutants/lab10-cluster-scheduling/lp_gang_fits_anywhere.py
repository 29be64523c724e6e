"""A job may get time on a type with fewer GPUs than its gang needs."""
EDITS = [
    ('gavel', '    bounds = [(0.0, float(T[m][j] > 0 and scale[m] <= capacity[j])) for m in range(n) for j in range(k)]', '    bounds = [(0.0, float(T[m][j] > 0)) for m in range(n) for j in range(k)]'),
]
