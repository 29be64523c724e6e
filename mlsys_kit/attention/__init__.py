"""FlashAttention (Dao et al., NeurIPS'22; FlashAttention-2, 2023).

Read in this order: ``flash`` (the teaching path: the standard three-pass attention, the tiled
forward with the online softmax and its recomputing backward), ``io`` (the bytes each moves
through main memory against the paper's Theorem 2), ``decode`` (split-KV decoding,
flash-decoding); then ``check`` (the real check against torch's SDPA). Plots and the lecture
widgets: ``viz``; the command: ``cli``; the report section: ``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
