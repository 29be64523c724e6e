"""A decode step reads back prompt_len + token entries: the one it is about to append too."""
EDITS = [("traffic", "cached = 0 if token == 0 else prompt_len + token - 1", "cached = 0 if token == 0 else prompt_len + token")]
