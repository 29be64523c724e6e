"""Only the keys are moved: the values are forgotten (half the bytes)."""
EDITS = [("kv_bytes", "return 2 * cfg[\"layers\"]", "return cfg[\"layers\"]")]
