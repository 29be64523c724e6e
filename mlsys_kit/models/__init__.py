"""The models every topic uses.

``costs`` (the transformer cost model: parameters, FLOPs, KV bytes, training-state bytes,
roofline; presets GPT-2, OPT-13B, LLaMA-2-7B/70B), ``gpt`` (the tiny GPT every serving topic
runs, GPT-2 layout), ``gpt_hf`` (loading Hugging Face GPT-2 weights into it). Plots and the
lecture widget of the cost model: ``viz``; the command: ``cli``; the report section: ``demo``.

This file imports nothing: import each name from the module that defines it (importing one
module then loads only what it needs, which keeps a lab's grading sandbox, where the lab's
reference modules are absent, able to load the rest).
"""
