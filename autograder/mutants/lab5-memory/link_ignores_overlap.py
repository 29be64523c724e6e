"""Link time ignoring overlap: every fetched op waits for its whole transfer after the op
before it, as if copies could not run while the device computes."""
EDITS = [
    ("prefetch", "s = max(t, arrive[j]) if arrive[j] is not None else t",
     "s = t + transfers[j] if transfers[j] is not None else t"),
]
