"""The DP checks the budget against the bytes held for the backward pass only, not against
the peak of the unit's ops (recomputation and gradients on top): its plans can exceed the
budget."""
EDITS = [
    ("optimal", "                if h + peak <= budget_bytes:", "                if h + held <= budget_bytes:"),
]
