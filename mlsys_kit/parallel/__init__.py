"""Tensor, sequence and 3D parallelism: the teaching path on simulated ranks
(:mod:`.tensor`), real tensor/sequence parallelism of the tiny GPT on torch.distributed
(:mod:`.runtime`), the per-layer communication/memory/time model (:mod:`.model`, which reuses
:mod:`mlsys_kit.zero.model` and the pipeline simulator) and the planner (:mod:`.planner`).

Papers: Megatron-LM (Shoeybi et al. 2019; Narayanan et al. SC'21), sequence parallelism
(Korthikanti et al. MLSys'23), Alpa (Zheng et al. OSDI'22). Importing this package needs no
torch process group."""
