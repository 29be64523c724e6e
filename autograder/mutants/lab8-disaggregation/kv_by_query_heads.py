"""KV bytes counted per query head: wrong for grouped-query attention (LLaMA-2-70B: 8x too many)."""
EDITS = [("kv_bytes", "cfg[\"kv_heads\"]", "cfg[\"heads\"]")]
