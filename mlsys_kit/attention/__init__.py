"""FlashAttention (Dao et al., NeurIPS'22; FlashAttention-2, 2023): the standard three-pass
attention and the tiled forward with the online softmax and its recomputing backward
(:mod:`.flash`, the teaching path), the bytes each moves through main memory against the
paper's Theorem 2 (:mod:`.io`), and split-KV decoding (flash-decoding, :mod:`.decode`)."""

from mlsys_kit.attention.decode import attend_with_lse, combine_splits, split_kv_decode
from mlsys_kit.attention.flash import (HBM, FlashAttentionFunction, flash_attention, flash_backward, flash_forward,
                                       standard_attention, standard_attention_backward)

__all__ = ["HBM", "FlashAttentionFunction", "attend_with_lse", "combine_splits", "flash_attention", "flash_backward",
           "flash_forward", "split_kv_decode", "standard_attention", "standard_attention_backward"]
