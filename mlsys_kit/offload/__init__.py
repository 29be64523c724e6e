"""Inference beyond device memory: FlexGen's tiers, zig-zag block schedule and policy search
(Sheng et al., ICML'23) and InfiniGen's speculative KV prefetch (Lee et al., OSDI'24).

Read in this order: ``config`` (tiers, hardware, placements, policies, models), ``cost`` (bytes
per tier and the time of a generation, FlexGen appendix A), ``schedule`` (row-by-row against
zig-zag, section 4.1), ``search`` (the policy search as a linear program, section 4.2); then
``real`` (the tiny GPT run across a device, a host and a disk tier; its tiers in ``tiers_real``)
and ``infinigen`` (InfiniGen's speculation; ``prefetch_real`` runs it in a decode loop, ``train``
and ``corpus`` give it a model with structure to find). Plots: ``viz``, the lecture widget
``widgets``; the command ``cli``; the report section ``demo``.

This file imports nothing: import each name from the module that defines it.
"""
