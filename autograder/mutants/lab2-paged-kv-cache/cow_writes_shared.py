"""Copy-on-write allocates the copy but the table still points at the shared block (writes go there)."""
EDITS = [
    ("fork_cow", "    table[-1] = dst\n", "    self.allocator.free(dst)\n    self.allocator.incref(src)\n"),
]
