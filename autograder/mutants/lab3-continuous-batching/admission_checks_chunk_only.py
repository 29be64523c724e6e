"""Admission checks that the blocks of the request's first chunk are free, not those of its
whole remaining prompt: with a token budget it admits a long prompt it cannot finish, which
then takes blocks other requests need (vLLM admits only what fits whole)."""
EDITS = [("prefills", "if kv.blocks_needed(seq.rid, seq.num_uncomputed) > kv.num_free - taken:",
          "if kv.blocks_needed(seq.rid, min(seq.num_uncomputed, budget)) > kv.num_free - taken:")]
