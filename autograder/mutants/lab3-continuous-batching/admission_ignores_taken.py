"""Admission compares a prompt's blocks with all free blocks, forgetting those this iteration's
decodes and chunks already take: the batch can need more KV than the cache has."""
EDITS = [("prefills", "if kv.blocks_needed(seq.rid, seq.num_uncomputed) > kv.num_free - taken:",
          "if kv.blocks_needed(seq.rid, seq.num_uncomputed) > kv.num_free:")]
