"""ZeRO (Rajbhandari et al., SC'20).

Read in this order: ``model`` (the analytic memory and communication model), ``collectives``
and ``simulate`` (an N-rank simulation in one process with counted ring collectives), then
``runtime`` (a real ZeRO-1/2/3 on torch.distributed), ``launch`` (starts it and checks it
against DDP) and ``peers`` (torch's own ZeRO-1 and ZeRO-3 for comparison). ``model`` needs no
torch; ``collectives`` and ``simulate`` need torch but no process group. Defaults: ``config``.
Plots and the lecture widget: ``viz``; the command: ``cli``; the report section: ``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
