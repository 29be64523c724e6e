"""Prefills that end at the same time cross the link in arrival order (first come, first served)
instead of the stated lower index first: the same unless the input is not in arrival order and two
prefills on one link end at exactly the same time."""
EDITS = [("ttft", 'key=lambda i: (prefill_end[i], i)', 'key=lambda i: (prefill_end[i], requests[i]["arrival"])')]
