"""Every transfer starts when its prefill ends: transfers on one link overlap instead of queueing."""
EDITS = [("ttft", "start = max(done, free.get(lane[i], 0.0))", "start = done")]
