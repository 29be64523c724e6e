"""Adam with epsilon written in as 1e-8 (the default) instead of the eps given: every call with
another eps (1e-6 for a run in low precision, 1e-3 to damp the first steps) updates by the
wrong amount, and the tests that keep the default cannot tell."""
EDITS = [("adam", "denom = v.sqrt() / math.sqrt(1 - b2 ** step) + eps", "denom = v.sqrt() / math.sqrt(1 - b2 ** step) + 1e-8")]
