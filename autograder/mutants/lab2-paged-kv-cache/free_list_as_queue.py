"""The free blocks are used as a queue, not the stack the contract asks for: allocate() takes the
oldest free block (pop(0)) instead of the last one pushed, so a block just freed is not reused next."""
EDITS = [("allocator", "block = self.free_list.pop()", "block = self.free_list.pop(0)")]
