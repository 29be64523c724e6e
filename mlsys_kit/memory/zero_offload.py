"""ZeRO-Offload (Ren et al., *ZeRO-Offload: Democratizing Billion-Scale Model Training*,
ATC'21), section 4: the model states of mixed-precision Adam split between the device and the
host. The fp16 parameters stay on the device (2Ψ bytes); the fp16 gradients go down to the
host during the backward pass, the fp32 master parameters, momentum and variance (K = 12 bytes
per parameter) and the Adam step live on the host, and the updated fp16 parameters come back
up: 2Ψ bytes each way per step (section 4.1's optimal offload strategy: device 2Ψ, host 14Ψ,
4Ψ over the link; with N_d ranks each rank moves its ZeRO-2 partition).

This is :mod:`mlsys_kit.zero.model` extended, not copied: the per-rank bytes are those of
``memory_per_device(..., stage=2)`` (ZeRO-Offload builds on ZeRO-2, section 4.3), with the
gradient and optimizer partitions moved from the device to the host.
"""

from __future__ import annotations

from typing import Any

from mlsys_kit import checks
from mlsys_kit.zero.model import memory_per_device


def offload_memory(params: int, ranks: int = 1, k: float = 12, activation_bytes: float = 0) -> dict[str, Any]:
    """Device and host bytes per rank under ZeRO-Offload, beside plain ZeRO-2 and stage 0.

    ``activation_bytes`` (what the step's activations take on the device) is added to the
    device side; the paper's Figure 7 runs use activation checkpointing to keep it small."""
    checks.nonneg_number("activation_bytes", activation_bytes)
    z2 = memory_per_device(params, ranks, 2, k)
    base = memory_per_device(params, ranks, 0, k)
    device = z2.params_bytes + activation_bytes
    host = z2.grads_bytes + z2.optimizer_bytes
    return {"params": params, "ranks": ranks, "k": k,
            "device_bytes": float(device), "host_bytes": float(host),
            "device_params_bytes": z2.params_bytes, "host_grads_bytes": z2.grads_bytes,
            "host_optimizer_bytes": z2.optimizer_bytes, "activation_bytes": activation_bytes,
            "zero2_device_bytes": z2.total_bytes + activation_bytes,
            "baseline_device_bytes": float(base.total_bytes + activation_bytes),
            "link_bytes_per_step": z2.grads_bytes + z2.params_bytes / ranks}


def max_params_offload(device_bytes: float, ranks: int = 1, activation_bytes: float = 0) -> int:
    """The largest Ψ whose device side fits: (device - activations) / 2 bytes per parameter
    (fp16 parameters are all that stays), independent of N_d."""
    checks.positive_number("device_bytes", device_bytes)
    checks.positive_int("ranks", ranks)
    checks.nonneg_number("activation_bytes", activation_bytes)
    free = device_bytes - activation_bytes
    per_param = memory_per_device(1, 1, 2).params_bytes  # the fp16 parameters: 2 bytes
    return max(0, int(free // per_param))


def offload_step_time(params: int, ranks: int, link_bytes_per_s: float, fwd_time: float, bwd_time: float,
                      cpu_adam_params_per_s: float = 1e9, dpu: bool = False) -> dict[str, float]:
    """Step time of ZeRO-Offload on one rank (section 4.2's schedule): the gradient partition
    goes down while the backward pass runs (overlapped: the later of the two), then the CPU
    Adam step on this rank's Ψ/N_d parameters, then the fp16 partition comes up. With ``dpu``
    (delayed parameter update, section 5.3) the CPU step and the upload overlap the next step's
    forward and backward. ``cpu_adam_params_per_s`` is the host's Adam rate: measure yours."""
    m = offload_memory(params, ranks)
    bw = checks.positive_number("link_bytes_per_s", link_bytes_per_s)
    checks.positive_number("fwd_time", fwd_time)
    checks.positive_number("bwd_time", bwd_time)
    rate = checks.positive_number("cpu_adam_params_per_s", cpu_adam_params_per_s)
    down = m["host_grads_bytes"] / bw
    up = m["device_params_bytes"] / ranks / bw
    cpu = params / ranks / rate
    gpu = fwd_time + max(bwd_time, down)
    step = max(gpu, cpu + up) if dpu else gpu + cpu + up
    return {"step_time": step, "gpu_time": fwd_time + bwd_time, "grad_down_time": down, "param_up_time": up,
            "cpu_adam_time": cpu, "slowdown": step / (fwd_time + bwd_time)}
