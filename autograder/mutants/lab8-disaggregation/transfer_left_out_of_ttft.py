"""The TTFT ends at the prefill: the KV transfer to the decode instance is left out."""
EDITS = [("ttft", "        ttft[i] = float(done - r[\"arrival\"])", "        ttft[i] = float(prefill_end[i] - r[\"arrival\"])")]
