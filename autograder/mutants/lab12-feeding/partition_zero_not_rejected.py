"""A partition of 0 bytes is not rejected with ValueError (the division by zero surfaces instead)."""
EDITS = [("priority", "    if partition < 1:", "    if partition < 0:")]
