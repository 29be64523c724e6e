"""Forward FLOPs count only the weight matmuls, not attention over the context."""
EDITS = [("flops", "return 2 * matmul + 4 * cfg.layers * context * h", "return 2 * matmul")]
