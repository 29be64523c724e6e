"""The prefetch for op j is issued when op j - lookahead ends instead of when it starts: the
copy no longer overlaps that op and the backward pass stalls more."""
EDITS = [
    ("prefetch", "issue(j + lookahead, s)", "issue(j + lookahead, s + d)"),
]
