"""Request capacity forgets that the model weights occupy the card too."""
EDITS = [("fit", "free = memory_bytes - param_count(cfg) * cfg.dtype_bytes", "free = memory_bytes")]
