"""Evicts a cached block even when plain free blocks are left: prefix hits are lost for nothing."""
EDITS = [
    ("prefix_cache", "if not self.free_list and self.evictable:", "if self.evictable:"),
]
