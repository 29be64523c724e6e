"""The design's flash bytes always use the question's fp16 (2 bytes): elem_bytes reaches the
standard count but the flash count hard-codes 2 (a parameter ignored on one path; right at the
defaults)."""
EDITS = [("design", "return flash_forward_bytes(seq, head_dim, rows, rows, e)",
          "return flash_forward_bytes(seq, head_dim, rows, rows, 2)")]
