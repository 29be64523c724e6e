"""insert() keeps the caller's list of token ids itself, not a tuple copy, and compares lists on
lookup: when the caller reuses or extends its list afterwards, the cached tokens change with it."""
EDITS = [("prefix_cache", "self.entry[block] = (h, tuple(token_ids))", "self.entry[block] = (h, token_ids)"),
         ("prefix_cache", "self.entry[block][1] != tuple(token_ids)", "list(self.entry[block][1]) != list(token_ids)")]
