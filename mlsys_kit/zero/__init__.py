"""ZeRO (Rajbhandari et al., SC'20): the analytic memory and communication model
(:mod:`.model`), an N-rank simulation in one process with counted ring collectives
(:mod:`.collectives`, :mod:`.simulate`), a real ZeRO-1/2/3 on torch.distributed
(:mod:`.runtime`; launched and checked against DDP by :mod:`.launch`; torch's own ZeRO-1 and
ZeRO-3 for comparison in :mod:`.peers`). Importing this package needs no torch."""

from mlsys_kit.zero.model import (COMM_VOLUME_PSI, STAGES, StageMemory, all_stages, check_fits,
                                  comm_bytes_per_rank, comm_elements_per_rank, deepspeed_estimate_bytes,
                                  max_params, memory_per_device, shard_elements)

__all__ = ["COMM_VOLUME_PSI", "STAGES", "StageMemory", "all_stages", "check_fits", "comm_bytes_per_rank",
           "comm_elements_per_rank", "deepspeed_estimate_bytes", "max_params", "memory_per_device",
           "shard_elements"]
