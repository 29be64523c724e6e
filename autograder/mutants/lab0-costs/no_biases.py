"""Forgets the biases of GPT-2/OPT-style layers (right for LLaMA, wrong for GPT-2)."""
EDITS = [("param_count", "    if cfg.bias:\n", "    if False:\n")]
