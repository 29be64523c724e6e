"""mlsys-kit: small, readable, correct reference implementations of the mechanisms a
graduate course on systems for machine learning reads about (GPipe, PipeDream, Megatron-LM,
ZeRO, Orca, vLLM, Sarathi-Serve, DistServe, FlashAttention).

One room per topic, each a subpackage holding its core, runtimes, defaults, plots, command and
report section: ``models`` (the cost model and the tiny GPT), ``pipeline``, ``kvcache``,
``serving``, ``disagg``, ``zero``, ``memory``, ``attention``, ``parallel``; shared helpers at
the bottom (``common``, ``checks``, ``viz.figure``); ``cli`` and ``demo`` on top. What may import
what: docs/architecture.md. This file imports nothing.
"""

__version__ = "0.1.0"
