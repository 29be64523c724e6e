"""Failures and checkpoints: wasted work, in-memory checkpoints, resharding, recovery, invariants.

Read in this order: ``waste`` (Young 1974 / Daly 2006: the expected waste of a checkpoint
interval and its optimum), ``failsim`` (a seeded failure simulator that checks the formula and
shows where it breaks), ``gemini`` (Wang et al., SOSP'23: checkpoints in peer CPU memory),
``oobleck`` (Jang et al., SOSP'23: reconfigure instead of restart) and ``reshard_math``
(Universal Checkpointing, ATC'25 section 3: which rank holds which slice of which parameter).
The real parts (checkpoints on the ZeRO/TP runtimes, kill and recover, TrainCheck invariants)
build on those.

This file imports nothing: import each name from the module that defines it.
"""
