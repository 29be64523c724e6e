"""Counts the LM head even when it shares the token embedding's weights (tied)."""
EDITS = [("param_count", "head = 0 if cfg.tied_embeddings else cfg.vocab * h", "head = cfg.vocab * h")]
