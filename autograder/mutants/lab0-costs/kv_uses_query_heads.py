"""KV cache sized by query heads: ignores grouped-query attention (kv_heads < heads)."""
EDITS = [("kv_bytes", "cfg.n_kv_heads * cfg.head_dim", "cfg.heads * cfg.head_dim")]
