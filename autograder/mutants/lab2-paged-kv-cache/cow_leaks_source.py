"""Copy-on-write keeps its reference to the shared source block: the block leaks."""
EDITS = [
    ("fork_cow", "    self.allocator.free(src)\n", ""),
]
