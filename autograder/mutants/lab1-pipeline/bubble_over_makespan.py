"""Bubble divided by the makespan (that is the bubble *rate*) instead of by the busy time."""
EDITS = [("metrics", "fractions.append(idle / busy)", 'fractions.append(idle / result["makespan"])')]
