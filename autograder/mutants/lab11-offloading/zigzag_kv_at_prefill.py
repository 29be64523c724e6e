"""The prefill (token 0) loads a KV cache too, though nothing is cached yet."""
EDITS = [("zigzag", "((\"kv_cache\",) if t > 0 else ())", "(\"kv_cache\",)")]
