"""Attention FLOPs use the config's seq_len instead of the context argument (the parameter is
ignored: right only when a test asks for the full context)."""
EDITS = [("flops", "return 2 * matmul + 4 * cfg.layers * context * h", "return 2 * matmul + 4 * cfg.layers * cfg.seq_len * h")]
