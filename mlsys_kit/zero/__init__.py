"""ZeRO (Rajbhandari et al., SC'20): the analytic memory and communication model
(:mod:`.model`), an N-rank simulation in one process with counted ring collectives
(:mod:`.collectives`, :mod:`.simulate`) and a real ZeRO-1/2/3 on torch.distributed
(:mod:`.runtime`)."""

from mlsys_kit.zero.model import (COMM_VOLUME_PSI, STAGES, StageMemory, all_stages, check_fits,
                                  comm_bytes_per_rank, comm_elements_per_rank, deepspeed_estimate_bytes,
                                  max_params, memory_per_device, shard_elements)

__all__ = ["COMM_VOLUME_PSI", "STAGES", "StageMemory", "all_stages", "check_fits", "comm_bytes_per_rank",
           "comm_elements_per_rank", "deepspeed_estimate_bytes", "max_params", "memory_per_device",
           "shard_elements"]
