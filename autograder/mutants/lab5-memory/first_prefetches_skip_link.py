"""The first lookahead prefetches (issued at time 0) are given their arrival times directly and
never occupy the link: with a lookahead of 2 or more they travel in parallel, and the first
prefetch issued later does not wait for them (a link counter not advanced on one path)."""
EDITS = [("prefetch", "    for j in range(min(lookahead, len(durations))):\n        issue(j, 0.0)\n",
          "    for j in range(min(lookahead, len(durations))):\n"
          "        arrive[j] = transfers[j]  # all start at time 0\n")]
