"""Copy-on-write allocates the copy but the table still points at the shared block (writes go there)."""
EDITS = [
    ("fork_cow", "    table[-1] = dst\n", "    self.alloc.free(dst)\n    self.alloc.incref(src)\n"),
]
