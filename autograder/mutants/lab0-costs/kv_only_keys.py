"""Stores only keys: the KV cache is missing its factor 2 for K and V."""
EDITS = [("kv_bytes", "return 2 * cfg.layers", "return cfg.layers")]
