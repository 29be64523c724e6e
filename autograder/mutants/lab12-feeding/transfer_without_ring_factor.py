"""The ring all-reduce is costed as a reduce-scatter only: (n-1)/n instead of 2(n-1)/n of the bytes."""
EDITS = [("iteration", "    return 2 * (n - 1) / n * nbytes / network[\"bandwidth\"]", "    return (n - 1) / n * nbytes / network[\"bandwidth\"]")]
