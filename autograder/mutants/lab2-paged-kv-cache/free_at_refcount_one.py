"""Off by one: a shared block goes back to the pool when its count drops to 1, while an owner still uses it."""
EDITS = [
    ("allocator", """        self.ref[block] -= 1
        if self.ref[block] == 0:""", """        self.ref[block] -= 1
        if self.ref[block] <= 1:"""),
]
