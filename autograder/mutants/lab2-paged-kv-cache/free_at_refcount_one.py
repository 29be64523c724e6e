"""Off by one: a shared block goes back to the pool when its count drops to 1, while an owner still uses it."""
EDITS = [
    ("allocator", """        self.refcounts[block] -= 1
        if self.refcounts[block] == 0:""", """        self.refcounts[block] -= 1
        if self.refcounts[block] <= 1:"""),
]
