"""Training memory (Chen et al. 2016; vDNN, MICRO'16; Checkmate, MLSys'20; Capuchin, ASPLOS'20;
ZeRO-Offload, ATC'21).

Read in this order: ``chain`` (a step as a chain of layers, and the chains of the model
presets), ``lifetimes`` (the teaching path: every tensor's lifetime under a plan of keep /
checkpoint / recompute / swap), ``optimal`` (the optimal checkpoint plan by exact DP beside the
brute force; the fast path in ``optimal_fast``), ``policies`` (the policies behind one
interface), ``zero_offload`` (ZeRO-Offload on top of :mod:`mlsys_kit.zero.model`), ``real``
(the real check on the tiny GPT with torch); then the operator level: ``opgraph`` (the step as a
graph of operators), ``checkmate`` (Checkmate's integer program, its LP rounding, a min-cut
baseline, the block plans on the same graph), ``op_real`` (the trace, and a plan run by torch's
graph cut), ``op_inductor`` (inductor's own partition, counted on the graph it partitions).
None of these needs torch at import. Defaults: ``config``. Plots and the lecture widget:
``viz`` (the two levels side by side: ``widgets``); the command: ``cli``; the report section:
``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
