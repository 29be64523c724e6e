"""Continuous batching: workloads, four schedulers, a real engine on the tiny GPT, a fast
simulator and the serving metrics (Orca, vLLM, Sarathi-Serve, DistServe).

Read in this order (the teaching path): ``sequence`` (a request's state), ``kv`` (the blocks a
scheduler sees), ``interface`` (what every scheduler is), ``scheduler`` (vllm, chunked),
``engine`` (schedule, run, postprocess); then, beside it, the two back-ends ``real`` (the tiny
GPT) and ``simulator`` (cost model and fast-forward), ``baselines`` (static, continuous),
``registry`` (the schedulers by name) and ``swap``; ``workload`` and ``metrics`` around them.
Defaults: ``config``. Plots and the lecture widget: ``viz``; the command: ``cli``; the report
section: ``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module loads only what it needs, so lab 3's grading sandbox, which has no ``scheduler``, can
still load the engine, the simulator and the baselines).
"""
