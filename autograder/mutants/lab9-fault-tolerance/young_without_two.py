"""Young's interval without the factor 2: sqrt(C M)."""
EDITS = [("waste", "return math.sqrt(2 * checkpoint * mtbf)\n", "return math.sqrt(checkpoint * mtbf)\n")]
