"""The design answer sorts the caller's list of microbatch counts in place (ms.sort()) instead of
iterating over a sorted copy: the answer is right, the caller's list is reordered."""
EDITS = [("choose", "    for m in sorted(ms):\n", "    ms.sort()\n    for m in ms:\n")]
