"""free(seq_id) returns the blocks but forgets the sequence's length: when the id is used again,
the new sequence starts from the old length (stale per-id state, seen only when an id is reused)."""
EDITS = [("block_manager", "        del self.lengths[seq_id]", "        pass")]
