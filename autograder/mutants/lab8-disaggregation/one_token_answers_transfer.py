"""A one-token answer still sends its KV to a decode instance (and waits for it)."""
EDITS = [("ttft", "        if r[\"output_len\"] > 1:\n            start", "        if r[\"output_len\"] >= 1:\n            start")]
