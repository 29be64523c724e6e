"""free() does not detect a double free: the count goes negative and the block is pushed twice."""
EDITS = [
    ("allocator", """        if self.refcounts[block] == 0:
            raise DoubleFree(f"block {block} is already free")
""", ""),
]
