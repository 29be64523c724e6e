"""mlsys-kit: small, readable, correct reference implementations of the mechanisms a
graduate course on systems for machine learning reads about (GPipe, PipeDream, Megatron-LM,
ZeRO, Orca, vLLM, Sarathi-Serve, DistServe).

Topics (each a subpackage with a pure-Python or torch core, a CLI and a demo section):
``models`` (transformer cost model, tiny GPT), ``pipeline``, ``kvcache``, ``serving``, ``zero``.
"""

__version__ = "0.1.0"
