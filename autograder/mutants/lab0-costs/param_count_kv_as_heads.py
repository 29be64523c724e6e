"""K and V projections counted as hidden x hidden, as in multi-head attention: grouped-query
attention's smaller K/V (n_kv_heads * head_dim outputs) is forgotten in the parameter count."""
EDITS = [("param_count", "h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim", "h, kv = cfg.hidden, cfg.hidden")]
