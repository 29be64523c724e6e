"""The token budget is given entirely to prompts; the decode tokens already in the batch are not
counted, so an iteration can run over the budget (Sarathi-Serve's stall-free bound is lost)."""
EDITS = [("prefills", "budget = sched.token_budget - len(batch)", "budget = sched.token_budget")]
