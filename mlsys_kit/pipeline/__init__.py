"""Pipeline parallelism: schedule IR, generators, validator, event simulator, torch.distributed runtime.

Papers: GPipe (Huang et al., NeurIPS'19), PipeDream (Narayanan et al., SOSP'19), Megatron-LM
(Narayanan et al., SC'21, section 2.2), Zero Bubble Pipeline Parallelism (Qi et al., ICLR'24).
Vocabulary: F, B (backward for inputs), W (backward for weights), BW (both), as in Zero Bubble;
torch.distributed.pipelining calls our BW "B" and our B "I".

Read in this order: ``schedule`` (the IR), ``generators`` (GPipe, 1F1B, interleaved, ZB-H1,
ZB-V), ``validate``, ``simulate``; then ``runtime`` (torch.distributed) and ``interop``
(torch.distributed.pipelining). Plots: ``viz`` (the one Gantt renderer) and ``gantt_raster``
(its fast path); the lecture widget: ``widgets``; the command: ``cli``; the report section:
``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
