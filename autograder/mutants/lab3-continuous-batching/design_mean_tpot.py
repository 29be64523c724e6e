"""Judges the budgets by the p99 of the mean time per output token (tpot_p99) instead of each
request's longest gap: the mean hides the one long stall a big prefill causes, so every budget
seems to meet 100 ms and the answer is "no budget"."""
EDITS = [("design", 'if summarize(result)["itl_max_p99"] <= itl_target:', 'if summarize(result)["tpot_p99"] <= itl_target:')]
