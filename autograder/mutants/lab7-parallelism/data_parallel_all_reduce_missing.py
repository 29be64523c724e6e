"""The data-parallel gradient all-reduce is left out of the step time: data parallelism looks free."""
EDITS = [
    ("cost", "dp = 2 * (d - 1) / d * 2 * psi / dp_bw", "dp = 0.0"),
]
