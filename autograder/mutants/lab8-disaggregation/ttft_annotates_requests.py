"""The TTFT is also written into each request's dict (r["ttft"] = ..., "to keep track"): the list
returned is right, but the caller's requests are changed (an argument mutated in place)."""
EDITS = [("ttft", '        ttft[i] = float(done - r["arrival"])', '        r["ttft"] = ttft[i] = float(done - r["arrival"])')]
