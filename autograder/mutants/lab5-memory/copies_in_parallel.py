"""Copies start as soon as they are issued, even while the link is still busy with the copy
before: the link is treated as if it had unlimited lanes."""
EDITS = [
    ("prefetch", "link = max(when, link) + transfers[j]", "link = when + transfers[j]"),
]
