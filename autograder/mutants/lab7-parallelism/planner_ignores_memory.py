"""The search takes the fastest plan whether or not it fits in memory."""
EDITS = [
    ("plan", 'if c["fits"] and c["step_time"] < best_time:', 'if c["step_time"] < best_time:'),
]
