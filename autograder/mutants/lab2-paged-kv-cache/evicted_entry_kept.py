"""Eviction removes the hash from the index but keeps the block's entry: once the block is reused
for other tokens, insert() sees it as already cached and never indexes it again (an eviction then a
reuse, a path random runs seldom reach)."""
EDITS = [("prefix_cache", "h, _ = self.entry.pop(block)", "h, _ = self.entry[block]")]
