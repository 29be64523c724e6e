"""f's backward forgotten: each rank keeps its own partial dL/dX (one term of the sum) instead of
all-reducing them, so the input gradient is wrong on every rank."""
EDITS = [
    ("linears", "return all_reduce(world, partial), grad_a", "return partial, grad_a"),
]
