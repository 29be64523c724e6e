"""Rounds the budget to whole bytes before comparing (bytes are ints, after all): a budget of
k + 0.5 bytes then admits plans peaking at k + 1 whenever Python's round() goes up (round half
to even), so the plan returned can exceed the budget by half a byte."""
EDITS = [("optimal", "                if h + peak <= budget_bytes:", "                if h + peak <= round(budget_bytes):")]
