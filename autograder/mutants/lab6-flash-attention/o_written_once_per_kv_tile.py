"""O is counted as written once per K/V tile (FlashAttention-1's order writes O back after every
K/V tile) instead of once, after the last one."""
EDITS = [("bytes", "total += seq * head_dim * elem_bytes  # O, written once",
          "total += seq * head_dim * elem_bytes * math.ceil(seq / block_k)  # O, written once")]
