"""Every rank gets the same list object for a whole state (no copy): a change on one rank shows on all."""
EDITS = [("reshard", "else list(flat)", "else flat")]
