"""Paged KV cache (PagedAttention, Kwon et al., SOSP'23): block allocator, block tables with
fork and copy-on-write, prefix cache, paged K/V storage and attention, and a model runner.

The pure-Python parts (``allocator``, ``block_table``, ``prefix_cache``, ``accounting``) need
no torch; ``paged`` and ``runner`` hold the tensors.
"""

from mlsys_kit.kvcache.allocator import (BlockAllocator, DoubleFree, ForeignBlock, KVCacheError,
                                         NotAllocated, OutOfBlocks)
from mlsys_kit.kvcache.block_table import BlockManager, UnknownSequence
from mlsys_kit.kvcache.prefix_cache import PrefixCache, block_hash

__all__ = ["BlockAllocator", "BlockManager", "DoubleFree", "ForeignBlock", "KVCacheError", "NotAllocated",
           "OutOfBlocks", "PrefixCache", "UnknownSequence", "block_hash"]
