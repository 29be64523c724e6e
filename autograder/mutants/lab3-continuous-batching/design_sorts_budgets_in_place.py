"""Sorts the caller's list of budgets in place (budgets.sort) instead of a sorted copy: the answer
is right, but the caller's list is reordered (DESIGN_BUDGETS itself, in the student's notebook)."""
EDITS = [("design", "    for budget in sorted(budgets, reverse=True):",
          "    budgets.sort(reverse=True)\n    for budget in budgets:")]
