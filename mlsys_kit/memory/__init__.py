"""Training memory (Chen et al. 2016; vDNN, MICRO'16; Checkmate, MLSys'20; Capuchin, ASPLOS'20;
ZeRO-Offload, ATC'21): a step as a chain of layers (:mod:`.chain`), every tensor's lifetime
under a plan of keep / checkpoint / recompute / swap (:mod:`.lifetimes`, the teaching path),
the optimal checkpoint plan by exact DP beside the brute force (:mod:`.optimal`), the policies
behind one interface (:mod:`.policies`), ZeRO-Offload on top of :mod:`mlsys_kit.zero.model`
(:mod:`.zero_offload`), and the real check on the tiny GPT with torch (:mod:`.real`).
Importing this package needs no torch."""

from mlsys_kit.memory.chain import Chain, Layer, from_lists, gpt_chain, transformer_chain, uniform_chain, vgg16_chain
from mlsys_kit.memory.lifetimes import StepResult, check_plan, simulate, units
from mlsys_kit.memory.optimal import brute_force_plan, optimal_plan, plan_peak
from mlsys_kit.memory.policies import POLICIES, PolicyResult, largest_batch, plan

__all__ = ["Chain", "Layer", "POLICIES", "PolicyResult", "StepResult", "brute_force_plan", "check_plan",
           "from_lists", "gpt_chain", "largest_batch", "optimal_plan", "plan", "plan_peak", "simulate",
           "transformer_chain", "uniform_chain", "units", "vgg16_chain"]
