"""Every element is taken as 2 bytes (fp16), whatever the model's dtype_bytes."""
EDITS = [("traffic", "b = model[\"dtype_bytes\"]", "b = 2")]
