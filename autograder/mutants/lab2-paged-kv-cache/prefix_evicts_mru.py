"""Evicts the most recently freed cached block instead of the least recently freed one."""
EDITS = [
    ("prefix_cache", "block, _ = self.evictable.popitem(last=False)", "block, _ = self.evictable.popitem(last=True)"),
]
