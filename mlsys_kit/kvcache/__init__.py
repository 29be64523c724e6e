"""Paged KV cache (PagedAttention, Kwon et al., SOSP'23).

Read in this order: ``allocator`` (the block pool), ``block_table`` (block tables, fork and
copy-on-write), ``prefix_cache``, ``accounting`` (waste: static reservation vs paging); these
need no torch. Then the tensors: ``paged`` (paged K/V storage and attention), ``paged_decode``
(the fast decode path, tested equal), ``contiguous`` (the baseline cache), ``runner`` (the
paged model runner). Defaults: ``config``; the scripted timeline the pictures step through:
``scenario``. Plots and the lecture widget: ``viz``; the command: ``cli``; the report section:
``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
