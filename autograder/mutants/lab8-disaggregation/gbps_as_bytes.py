"""The link's gigabits are taken as gigabytes: transfers 8x too fast."""
EDITS = [("kv_bytes", "nbytes * 8 / (gbps * 1e9)", "nbytes / (gbps * 1e9)")]
