"""fork copies the block table but does not add the child as an owner of the shared blocks."""
EDITS = [
    ("fork_cow", """    for block in self.tables[parent_id]:
        self.allocator.incref(block)
""", ""),
]
