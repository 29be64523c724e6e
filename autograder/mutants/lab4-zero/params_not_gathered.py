"""Runs the all-gather but never stores its result: each rank only sees its own slice updated,
the rest of its parameters go stale."""
EDITS = [
    ("zero2", '        st["params"] = full', '        st["params"][:] = st["params"]  # (forgot to use the gathered buffer)'),
]
