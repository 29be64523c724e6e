"""The priority order sends the last layer first (the order backward produces gradients, FIFO's),
not the layer the next forward needs first."""
EDITS = [("priority", "    for layer, g in enumerate(grad_bytes):", "    for layer, g in reversed(list(enumerate(grad_bytes))):")]
