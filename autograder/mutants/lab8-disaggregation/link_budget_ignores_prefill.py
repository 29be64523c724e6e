"""The slowest-link answer gives the whole TTFT budget to the transfer, forgetting the prefill."""
EDITS = [("design", "    budget = ttft_slo - prefill_seconds", "    budget = ttft_slo")]
