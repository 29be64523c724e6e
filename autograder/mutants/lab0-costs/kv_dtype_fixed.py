"""The KV cache assumes fp16 elements: 2 bytes hard-coded instead of cfg.dtype_bytes (a parameter
ignored; right for every preset, wrong for fp32 or fp8 caches)."""
EDITS = [("kv_bytes", "cfg.head_dim * cfg.dtype_bytes", "cfg.head_dim * 2")]
